"""Mint the App+User refresh token an ``mpn`` connection needs, with Microsoft Entra's device-code flow.

``python -m airflow_provider_pcinsights.signin --conn-id pcinsights_default`` reads
the connection's tenant, client and client credential, shows a code and the
URL where a user with the **Executive Report Viewer** role signs in (with
multi-factor authentication, as Partner Center requires), and prints the
connection with the new refresh token, as an ``AIRFLOW_CONN_...`` line and as an
``airflow connections add`` command; ``--update`` writes it into the connection
stored in Airflow's database instead. Run it again before 90 days pass without
use, or when a task says the refresh token expired or was revoked.

The app registration is the connection's: a confidential client (Web platform)
with the Partner Center API permission user_impersonation, signing in with its
client secret, certificate or federated token, as the provider will when it
redeems the token.

examples:
  # tenant, client and credential from the existing connection (any Airflow secrets backend):
  python -m airflow_provider_pcinsights.signin --conn-id pcinsights_default
  # the same, writing the new token into the connection stored in Airflow's database:
  python -m airflow_provider_pcinsights.signin --conn-id pcinsights_default --update
  # no connection yet; the client secret is read from $PCINSIGHTS_CLIENT_SECRET or asked for:
  python -m airflow_provider_pcinsights.signin --tenant-id contoso.onmicrosoft.com \\
      --client-id 11111111-2222-3333-4444-555555555555

Secrets go to standard output only (the terminal, or wherever it was sent);
the code, the URL and progress go to standard error; nothing goes to a log.
"""

from __future__ import annotations

from airflow_provider_pcinsights.signin._cli import main

__all__ = ["main"]
