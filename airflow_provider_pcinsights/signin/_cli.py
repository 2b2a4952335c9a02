"""The command line of the sign-in helper: where the credential comes from, and where the token goes."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shlex
import sys
from types import SimpleNamespace
from typing import Any, TextIO

from airflow_provider_pcinsights.connection_fields import DEFAULT_AUTHORITY_HOST, KNOWN_EXTRAS
from airflow_provider_pcinsights.exceptions import PartnerCenterInsightsError
from airflow_provider_pcinsights.hooks.connection import plain_extras, settings_from_connection
from airflow_provider_pcinsights.signin._store import ABSENT, store_refresh_token, stored_connection_to_update

SECRET_ENV = "PCINSIGHTS_CLIENT_SECRET"
_PLACEHOLDER_TOKEN = "minted-by-this-sign-in"

DESCRIPTION = """\
Sign a user in with Microsoft Entra's device-code flow and mint the App+User
refresh token an mpn connection needs (auth_type refresh_token).

The user must hold the Executive Report Viewer role in Partner Center and sign
in with multi-factor authentication. The app registration is the connection's:
a confidential client (Web platform) with the Partner Center API permission
user_impersonation, signing in with its client secret, certificate or federated
token, as the provider will when it redeems the token.
"""

EPILOG = f"""\
examples:
  # tenant, client and credential from the existing connection (any Airflow secrets backend):
  python -m airflow_provider_pcinsights.signin --conn-id pcinsights_default
  # the same, writing the new token into the connection stored in Airflow's database:
  python -m airflow_provider_pcinsights.signin --conn-id pcinsights_default --update
  # no connection yet; the client secret is read from ${SECRET_ENV} or asked for:
  python -m airflow_provider_pcinsights.signin --tenant-id contoso.onmicrosoft.com \\
      --client-id 11111111-2222-3333-4444-555555555555

The connection (secrets included) is printed to standard output only; the code,
the URL and progress go to standard error. Nothing is logged.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_pcinsights.signin",
        description=DESCRIPTION,
        epilog=EPILOG,
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
    parser.add_argument("--program", default="mpn", choices=("mpn", "cmp"), help="default: %(default)s")
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
        if args.tenant_id:
            connection = _connection_from_args(args)
        elif stored is not None:
            connection = _connection_dict(stored)  # the credential the new token will sit beside
        else:
            connection = _existing_connection(args.conn_id)
        _apply_overrides(connection, args)
        settings = _settings_for_sign_in(args.conn_id, connection)
    except (PartnerCenterInsightsError, ValueError, LookupError) as err:
        print(f"error: {err}", file=stderr)
        return 2
    if args.update:
        _warn_if_shadowed(args.conn_id, stderr)

    from airflow_provider_pcinsights.signin._flow import DeviceCodeSignIn

    sign_in = None
    try:
        sign_in = DeviceCodeSignIn(settings)
        flow = sign_in.start()
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
        signed_in = sign_in.wait(flow, timeout=args.timeout)
    except PartnerCenterInsightsError as err:
        print(str(err), file=stderr)
        return 1
    except KeyboardInterrupt:
        print("Cancelled; no token was minted.", file=stderr)
        return 130
    finally:
        if sign_in is not None:
            sign_in.close()

    who = f" as {signed_in.user}" if signed_in.user else ""
    _with_refresh_token(connection, signed_in.refresh_token)
    if args.update:
        if store_refresh_token(args.conn_id, signed_in.refresh_token, previous=None) == ABSENT:
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
    _print_connection(args.conn_id, connection, args.format, stdout)
    return 0


# ---------------------------------------------------------------------------- the connection


def _connection_from_args(args: argparse.Namespace) -> dict[str, Any]:
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


def _existing_connection(conn_id: str) -> dict[str, Any]:
    """The connection as Airflow resolves it (environment, secrets backend or database), as a dict."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise LookupError(
            f"Airflow has no connection {conn_id!r}; create it first, or give --tenant-id and --client-id"
        ) from None
    return _connection_dict(conn)


def _connection_dict(conn: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"conn_type": conn.conn_type or "pcinsights"}
    for name in ("login", "password", "host", "port", "description"):
        value = getattr(conn, name, None)
        if value not in (None, ""):
            result[name] = value
    result["extra"] = plain_extras(conn.extra_dejson)
    return result


def _apply_overrides(conn: dict[str, Any], args: argparse.Namespace) -> None:
    extra = conn.setdefault("extra", {})
    if args.host:
        conn["host"] = args.host
    if args.authority_host:
        extra["authority_host"] = args.authority_host
    if args.verify:
        extra["verify"] = args.verify
    if args.tenant_id is None and args.program != "mpn":
        extra["program"] = args.program


def _settings_for_sign_in(conn_id: str, conn: dict[str, Any]) -> Any:
    """The connection checked like the hook checks it, as it will be once it holds a refresh token."""
    extra = {**conn.get("extra", {}), "auth_type": "refresh_token", "refresh_token": _PLACEHOLDER_TOKEN}
    candidate = SimpleNamespace(
        conn_id=conn_id,
        login=conn.get("login"),
        password=conn.get("password"),
        host=conn.get("host"),
        port=conn.get("port"),
        extra_dejson=extra,
    )
    return settings_from_connection(candidate)


def _with_refresh_token(conn: dict[str, Any], refresh_token: str) -> None:
    extra = conn.setdefault("extra", {})
    extra["auth_type"] = "refresh_token"
    extra["refresh_token"] = refresh_token
    unknown = set(extra) - KNOWN_EXTRAS
    for name in unknown:  # refused by the hook anyway; never carried into a new connection
        extra.pop(name)


def _print_connection(conn_id: str, conn: dict[str, Any], fmt: str, out: TextIO) -> None:
    text = json.dumps(conn)
    if fmt in ("both", "env"):
        print(f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(text)}", file=out)
    if fmt in ("both", "cli"):
        print(f"airflow connections add {shlex.quote(conn_id)} --conn-json {shlex.quote(text)}", file=out)
    out.flush()


def _warn_if_shadowed(conn_id: str, stderr: TextIO) -> None:
    """Airflow reads ``AIRFLOW_CONN_<ID>`` before its database: where that is set, the token
    written here is never read. Say so before the sign-in, while it can still be fixed."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    if os.environ.get(name):
        print(
            f"warning: the environment variable {name} is set, and Airflow reads it before its "
            f"database: wherever it is set, tasks and commands use that copy of {conn_id!r}, not the "
            f"refresh token --update writes into the database. Unset it there (or run without --update "
            "and store the printed connection in it).",
            file=stderr,
            flush=True,
        )
