"""The command line of the sign-in helper: where the credential comes from, and where the token goes."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shlex
import sys
import time
from types import SimpleNamespace
from typing import Any, TextIO

from airflow_provider_pcinsights.connection_fields import DEFAULT_AUTHORITY_HOST, PROGRAMS
from airflow_provider_pcinsights.exceptions import AuthenticationError, PartnerCenterInsightsError
from airflow_provider_pcinsights.hooks.connection import (
    InsightsSettings,
    RetryPolicy,
    plain_extras,
    settings_from_connection,
)
from airflow_provider_pcinsights.signin._store import ABSENT, store_refresh_token, stored_connection_to_update

SECRET_ENV = "PCINSIGHTS_CLIENT_SECRET"
_PLACEHOLDER_TOKEN = "minted-by-this-sign-in"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_pcinsights.signin",
        # The package docstring, examples included.
        description=sys.modules["airflow_provider_pcinsights.signin"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--conn-id",
        default="pcinsights_default",
        help="connection to read (unless --tenant-id is given), to print and to --update "
        "(default: %(default)s)",
    )
    parser.add_argument("--tenant-id", help="Entra tenant of the partner account; read no connection")
    parser.add_argument("--client-id", help="application (client) id; required with --tenant-id")
    credential = parser.add_mutually_exclusive_group()
    credential.add_argument(
        "--certificate-path", help="PEM with private key and certificate, instead of a secret"
    )
    credential.add_argument("--client-assertion-file", help="federated token file, instead of a secret")
    parser.add_argument("--program", default="mpn", choices=PROGRAMS, help="default: %(default)s")
    parser.add_argument("--host", help="API base URL to store in the connection (default: the public cloud)")
    parser.add_argument("--authority-host", help=f"Entra sign-in host (default: {DEFAULT_AUTHORITY_HOST})")
    parser.add_argument(
        "--verify", help="true, false or a CA bundle path, for the sign-in and the connection"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="write the new refresh token into the connection stored in Airflow's metadata database "
        "instead of printing the connection",
    )
    parser.add_argument(
        "--format",
        choices=("both", "env", "cli"),
        default="both",
        help="print the connection as an AIRFLOW_CONN_ line (env), an `airflow connections add` "
        "command (cli), or both (default)",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds to wait for the approval (default: the code's own lifetime)"
    )
    return parser


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the helper; 0 when the token is minted, 1 when the sign-in failed, 2 for bad arguments."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    # MSAL and urllib3 talk at DEBUG about requests; none of it may reach a handler a log collects.
    for name in ("msal", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        # --update checks the row it will write before anyone signs in: a person's multi-factor
        # sign-in must never be thrown away for a connection that cannot be written.
        stored = stored_connection_to_update(args.conn_id) if args.update else None
        connection = _connection(args, stored)
        settings = _settings_for_sign_in(args.conn_id, connection)
    except (PartnerCenterInsightsError, ValueError, LookupError) as err:
        print(f"error: {err}", file=stderr)
        return 2
    shadow = f"AIRFLOW_CONN_{args.conn_id.upper()}"
    if args.update and os.environ.get(shadow):
        # Airflow reads the variable before its database: where it is set, the token written here is
        # never read. Said before the sign-in, while it can still be fixed.
        print(
            f"warning: the environment variable {shadow} is set, and Airflow reads it before its "
            f"database: wherever it is set, tasks and commands use that copy of {args.conn_id!r}, not the "
            f"refresh token --update writes into the database. Unset it there (or run without --update "
            "and store the printed connection in it).",
            file=stderr,
            flush=True,
        )

    try:
        result = _device_code_sign_in(settings, args.timeout, stderr)
    except PartnerCenterInsightsError as err:
        print(str(err), file=stderr)
        return 1
    except KeyboardInterrupt:
        print("Cancelled; no token was minted.", file=stderr)
        return 130

    refresh_token = str(result["refresh_token"])
    user = (result.get("id_token_claims") or {}).get("preferred_username")
    who = f" as {user}" if user else ""
    connection["extra"].update(auth_type="refresh_token", refresh_token=refresh_token)
    if args.update:
        if store_refresh_token(args.conn_id, refresh_token, previous=None) == ABSENT:
            # Checked before the sign-in; only a row deleted meanwhile gets here.
            print(
                f"Signed in{who}, but connection {args.conn_id!r} is no longer in Airflow's database; "
                "store the token yourself: run again without --update to print the connection",
                file=stderr,
            )
            return 1
        print(
            f"Signed in{who}. Connection {args.conn_id!r} in Airflow's database now holds the new "
            "refresh token (auth_type refresh_token).",
            file=stderr,
        )
        return 0
    print(
        f"Signed in{who}. The connection, with its secrets (keep them out of logs and tickets):", file=stderr
    )
    text = json.dumps(connection)
    if args.format in ("both", "env"):
        print(f"export {shadow}={shlex.quote(text)}", file=stdout)
    if args.format in ("both", "cli"):
        print(
            f"airflow connections add {shlex.quote(args.conn_id)} --conn-json {shlex.quote(text)}",
            file=stdout,
        )
    stdout.flush()
    return 0


def _device_code_sign_in(settings: InsightsSettings, timeout: float | None, stderr: TextIO) -> dict[str, Any]:
    """The device-code flow, with MSAL, as the confidential client the provider signs in as.

    MSAL offers the device-code flow on ``PublicClientApplication`` only, but a
    refresh token minted by a public client cannot be redeemed with a client
    secret (Entra answers AADSTS700025), and the provider always redeems it with
    the connection's credential. So the flow runs on a
    ``ConfidentialClientApplication`` that borrows MSAL's own two device-flow
    methods: the polls then carry the client credential, like every later
    redemption of the token. MSAL honours ``slow_down`` while it polls.
    """
    import msal

    from airflow_provider_pcinsights.hooks.entra import SignInError, new_application, sign_in_message

    class DeviceCodeConfidentialClient(msal.ConfidentialClientApplication):
        DEVICE_FLOW_CORRELATION_ID = msal.PublicClientApplication.DEVICE_FLOW_CORRELATION_ID
        initiate_device_flow = msal.PublicClientApplication.initiate_device_flow
        acquire_token_by_device_flow = msal.PublicClientApplication.acquire_token_by_device_flow

    # The delegated scope of the connection's audience: https://api.partnercenter.microsoft.com/
    # user_impersonation. MSAL adds offline_access (so Entra hands out a refresh token) itself.
    resource = settings.scope.removesuffix("/.default").rstrip("/")
    policy = RetryPolicy(retries=3, backoff_factor=0.5, backoff_max=10.0, max_retry_after=30.0)
    errors = SignInError(settings, lambda: settings.secrets, policy.retries)
    # MSAL reads the tenant's OpenID configuration when the application is made.
    app, session = errors.call(
        lambda: new_application(
            settings, policy, "airflow-provider-pcinsights-signin", app_class=DeviceCodeConfidentialClient
        )
    )
    try:
        flow = errors.call(lambda: app.initiate_device_flow(scopes=[f"{resource}/user_impersonation"]))
        if "user_code" not in flow:
            raise errors.from_result(flow)
        print(
            flow.get("message") or f"Open {flow['verification_uri']} and enter {flow['user_code']}.",
            file=stderr,
        )
        print(
            f"Sign in as a user with the Executive Report Viewer role (client {settings.client_id}, "
            f"tenant {settings.tenant_id}); waiting for the approval...",
            file=stderr,
            flush=True,
        )
        if timeout is not None:
            flow["expires_at"] = min(float(flow.get("expires_at", 0)), time.time() + timeout)
        result: dict[str, Any] = errors.call(lambda: app.acquire_token_by_device_flow(flow))
    finally:
        session.close()
    if "access_token" not in result:
        raise errors.from_result(result)  # declined, expired, or any other refusal
    if not result.get("refresh_token"):
        raise AuthenticationError(
            sign_in_message(
                "Entra handed out no refresh token",
                "make sure the app may request offline_access and that the scope is Partner Center's",
                settings,
            )
        )
    return result


# ---------------------------------------------------------------------------- the connection


def _connection(args: argparse.Namespace, stored: Any) -> dict[str, Any]:
    """The connection the new token goes into: made of the arguments with --tenant-id, else the row
    --update writes (the credential the new token will sit beside), else the connection as Airflow
    resolves it; with the arguments that override it."""
    if args.tenant_id:
        if not args.client_id:
            raise ValueError("--client-id is required with --tenant-id")
        conn: dict[str, Any] = {
            "conn_type": "pcinsights",
            "login": args.client_id,
            "extra": {"tenant_id": args.tenant_id, "program": args.program},
        }
        if args.certificate_path:
            conn["extra"]["certificate_path"] = args.certificate_path
        elif args.client_assertion_file:
            conn["extra"]["client_assertion_file"] = args.client_assertion_file
        else:
            conn["password"] = os.environ.get(SECRET_ENV) or _ask_secret()
    else:
        conn = _connection_dict(stored if stored is not None else _existing_connection(args.conn_id))
        if args.program != "mpn":
            conn["extra"]["program"] = args.program
    if args.host:
        conn["host"] = args.host
    for name in ("authority_host", "verify"):
        if getattr(args, name):
            conn["extra"][name] = getattr(args, name)
    return conn


def _ask_secret() -> str:
    if not sys.stdin.isatty():
        raise ValueError(
            f"no client secret: set {SECRET_ENV}, or give --certificate-path or --client-assertion-file"
        )
    secret = getpass.getpass("Client secret (not echoed): ").strip()
    if not secret:
        raise ValueError("no client secret given")
    return secret


def _existing_connection(conn_id: str) -> Any:
    """The connection as Airflow resolves it (environment, secrets backend or database)."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise LookupError(
            f"Airflow has no connection {conn_id!r}; create it first, or give --tenant-id and --client-id"
        ) from None


def _connection_dict(conn: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"conn_type": conn.conn_type or "pcinsights"}
    for name in ("login", "password", "host", "port", "description"):
        value = getattr(conn, name, None)
        if value not in (None, ""):
            result[name] = value
    result["extra"] = plain_extras(conn.extra_dejson)
    return result


def _settings_for_sign_in(conn_id: str, conn: dict[str, Any]) -> Any:
    """The connection checked like the hook checks it, as it will be once it holds a refresh token."""
    extra = {**conn.get("extra", {}), "auth_type": "refresh_token", "refresh_token": _PLACEHOLDER_TOKEN}
    fields = {name: conn.get(name) for name in ("login", "password", "host", "port")}
    return settings_from_connection(SimpleNamespace(conn_id=conn_id, extra_dejson=extra, **fields))
