"""``Emulator``: one local stand-in for Entra ID and the Partner Center Insights API.

It owns the pieces (certificates, state, tokens, behaviour, faults, request
log) and the server thread; see ``docs/design.md`` for the contract that
tests and the demo rely on.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509

from .assertions import make_federated_token
from .behaviour import Behaviour
from .devicecode import DeviceCodes
from .entra import PARTNER_CENTER_RESOURCE, Entra, RegisteredClient
from .faults import Faults
from .files import FileHost, ReportFile, report_file
from .insights import Insights
from .requestlog import RequestLog, RequestRecord
from .router import Router
from .runs import Clock, RunTimes
from .server import ConnectionStats, EmulatorHTTPServer, make_ssl_context
from .state import STATUSES, EmulatorState
from .tls import TlsMaterial, tls_material, write_tls_files
from .tokens import TokenRegistry

# Well-known dummy credentials: fixed so a printed connection stays valid across restarts.
DEFAULT_TENANT_ID = "0a1b2c3d-0000-4000-8000-00000000e1d0"
DEFAULT_CLIENT_ID = "c1c1c1c1-0000-4000-8000-00000000a991"
DEFAULT_CLIENT_SECRET = "emu~client-secret.0nly-f0r-the-emulat0r"
DEFAULT_REFRESH_TOKEN = "0.emu.refresh-token-0nly-f0r-the-emulat0r"
DEFAULT_UNAUTHORIZED_CLIENT_ID = "c1c1c1c1-0000-4000-8000-0000000a0403"
DEFAULT_UNAUTHORIZED_CLIENT_SECRET = "emu~no-role-secret.0nly-f0r-the-emulat0r"
SCOPE = f"{PARTNER_CENTER_RESOURCE}/.default"
_TOP_LEVEL_CONNECTION_FIELDS = {"conn_type", "login", "password", "host", "schema", "port", "description"}


def default_auth_type(program: str) -> str:
    """How a real tenant signs in to ``program``: App+User on mpn (the service refuses app-only there)."""
    return "refresh_token" if program == "mpn" else "client_credentials"


class Emulator:
    """Start with ``start()`` or as a context manager; ``stop()`` is quick even with hanging calls."""

    def __init__(
        self,
        *,
        reports: int = 3,
        page_size: int = 100,
        token_lifetime: int = 3599,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: str | Path | None = None,
        device_code_lifetime: int = 900,
        device_code_interval: int = 5,
        file_host: str = "localhost",
        tls: TlsMaterial | None = None,
    ) -> None:
        if reports < 0:
            raise ValueError(f"reports must be >= 0, got {reports}")
        if token_lifetime < 1:
            raise ValueError(f"token_lifetime must be >= 1 second, got {token_lifetime}")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.unauthorized_client_id = DEFAULT_UNAUTHORIZED_CLIENT_ID
        self.unauthorized_client_secret = DEFAULT_UNAUTHORIZED_CLIENT_SECRET
        self.scope = SCOPE
        self._host = host
        self._port = port
        self._own_dir = state_dir is None
        self._dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="pcinsights-emulator-"))
        # ``tls``: certificates to reuse (a restarted emulator keeps the CA its clients trust).
        self.tls_material = tls or tls_material()

        self.behaviour = Behaviour()
        self.behaviour.page_size = page_size
        self._initial_page_size = page_size
        self.faults = Faults(seed=seed)
        self.state = EmulatorState(reports=reports)
        self.clock = Clock()
        self.runs = RunTimes()
        self.files = FileHost(self.state, self.clock, self.runs, self.behaviour, host_name=file_host)
        self.tokens = TokenRegistry(lifetime=token_lifetime)
        self.tokens.register_refresh_token(refresh_token, client_id)
        self.device_codes = DeviceCodes(lifetime=device_code_lifetime, interval=device_code_interval)
        self.request_log = RequestLog()
        self.connection_stats = ConnectionStats()
        self._stopping = threading.Event()
        self._server: EmulatorHTTPServer | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None

        files = write_tls_files(self._dir, self.tls_material)
        self.ca_path = str(files.ca_path)
        self.certificate_path = str(files.client_certificate_path)
        self._tls_files = files
        self.client_assertion_file = str(self._dir / "federated-token.jwt")
        federated_token = make_federated_token(
            client_id=client_id,
            issuer="https://oidc.emulator.invalid/airflow",
            subject="system:serviceaccount:airflow:airflow-worker",
        )
        Path(self.client_assertion_file).write_text(federated_token, encoding="utf-8")

        certificate = x509.load_pem_x509_certificate(self.tls_material.client_cert_pem)
        self.entra = Entra(
            tenant_id,
            [
                RegisteredClient(
                    client_id, secret=client_secret, certificate=certificate, federated_token=federated_token
                ),
                RegisteredClient(
                    self.unauthorized_client_id,
                    secret=self.unauthorized_client_secret,
                    has_partner_center_role=False,
                ),
            ],
            self.tokens,
            self.device_codes,
        )
        self.insights = Insights(
            self.state,
            self.behaviour,
            self.tokens,
            authorized_clients={
                c.client_id for c in self.entra.clients.values() if c.has_partner_center_role
            },
            resource=PARTNER_CENTER_RESOURCE,
            clock=self.clock,
            times=self.runs,
            files=self.files,
        )
        self.router = Router(
            entra=self.entra,
            insights=self.insights,
            files=self.files,
            faults=self.faults,
            log=self.request_log,
            behaviour=self.behaviour,
            stopping=self._stopping,
        )

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        context = make_ssl_context(
            str(self._tls_files.server_cert_path), str(self._tls_files.server_key_path)
        )
        self._server = EmulatorHTTPServer(
            (self._host, self._port), context, self.router.handle, self._stopping, self.connection_stats
        )
        self._bound_port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"pcinsights-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake any hanging call; remove temporary files."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<Emulator {where} tenant={self.tenant_id} client={self.client_id}>"

    # -- where it is ----------------------------------------------------------
    @property
    def port(self) -> int:
        """The port it listens on (still readable after ``stop()``, for messages)."""
        if self._bound_port is None:
            raise RuntimeError(
                "the emulator has not been started; call start() or use it as a context manager"
            )
        return self._bound_port

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}"

    @property
    def authority(self) -> str:
        """What MSAL takes as ``authority`` (with ``instance_discovery=False``)."""
        return f"{self.url}/{self.tenant_id}"

    @property
    def state_dir(self) -> str:
        return str(self._dir)

    def api_url(self, program: str = "mpn", version: str | None = None) -> str:
        version = version or ("v1.1" if program == "cmp" else "v1")
        return f"{self.url}/insights/{version}/{program}"

    # -- connections ----------------------------------------------------------
    def connection(self, program: str = "mpn", auth_type: str | None = None, **overrides: Any) -> dict:
        """The connection as a dict (the JSON form Airflow reads from ``AIRFLOW_CONN_*``).

        ``auth_type`` defaults to what a real tenant uses: ``refresh_token`` (App+User, with
        this emulator's refresh token, which carries a multi-factor claim) on ``mpn``, where the
        emulator refuses app-only tokens as the service does; ``client_credentials`` on ``cmp``.

        ``overrides`` replace top-level fields (``login``, ``password``, ``host``...)
        or extras (anything else); ``None`` removes a field. Giving
        ``certificate_path`` or ``client_assertion_file`` drops the password
        unless a password is given too, so that credential is the one used.
        """
        auth_type = auth_type or default_auth_type(program)
        extra: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "program": program,
            "auth_type": auth_type,
            "authority_host": self.url,
            "verify": self.ca_path,
        }
        if auth_type == "refresh_token":
            extra["refresh_token"] = self.refresh_token
        conn: dict[str, Any] = {
            "conn_type": "pcinsights",
            "login": self.client_id,
            "password": self.client_secret,
            "host": self.url,
        }
        if (
            "certificate_path" in overrides or "client_assertion_file" in overrides
        ) and "password" not in overrides:
            conn.pop("password")
        for key, value in overrides.items():
            target = conn if key in _TOP_LEVEL_CONNECTION_FIELDS else extra
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        conn["extra"] = extra
        return conn

    def connection_json(self, program: str = "mpn", auth_type: str | None = None, **overrides: Any) -> str:
        return json.dumps(self.connection(program, auth_type, **overrides))

    def connection_env(self, conn_id: str = "pcinsights_default", **kwargs: Any) -> dict[str, str]:
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(**kwargs)}

    # -- reports ----------------------------------------------------------------
    def report_ids(self, program: str = "mpn") -> list[str]:
        return self.state.report_ids(program)

    def report(self, program: str, report_id: str) -> dict[str, Any]:
        return self.state.report(program, report_id)

    def reports(self, program: str = "mpn") -> list[dict[str, Any]]:
        return self.state.reports(program)

    def set_report_status(self, program: str, report_id: str, status: str) -> dict[str, Any]:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        return self.state.set_report_status(program, report_id, status)

    def change_status_after_reads(self, program: str, report_id: str, status: str, reads: int = 1) -> None:
        """Set the report's status once it has been read ``reads`` more times.

        A read is an answered ``GET ScheduledReport`` that included the report (a faulted call
        is not). The change is applied right after answering the read that makes the count, so
        that read still shows the old status and the next one the new. Several changes of one
        report apply one after the other, in the order queued: each later one counts its reads
        from the read that applied the one before it. ``reset()`` forgets them.
        """
        self.state.change_status_after_reads(program, report_id, status, reads)

    def reads(self, program: str, report_id: str) -> int:
        """How many answered ``GET ScheduledReport`` calls included this report (since ``reset()``)."""
        return self.state.reads(program, report_id)

    def scheduled_status_changes(self) -> list[dict[str, Any]]:
        """Changes queued with ``change_status_after_reads`` and not applied yet, in order."""
        return self.state.scheduled_status_changes()

    def add_report(self, program: str = "mpn", **fields: Any) -> str:
        return self.state.add_report(program, fields)["ReportId"]

    def add_execution(self, program: str, report_id: str, **fields: Any) -> dict[str, Any]:
        """A run of the report, completed now on the emulator's clock unless ``fields`` say otherwise."""
        return self.state.add_execution(program, report_id, self.clock.now(), **fields)

    # -- runs on the emulator's clock, and their files ---------------------------------
    def run_report(self, program: str, report_id: str) -> dict[str, Any]:
        """Start the report's next run now, as ``ExecuteNow`` or a resume does; the execution, Pending.

        It is ``Running`` after ``runs.pending_seconds`` and ``Completed``, with its file, after
        ``runs.running_seconds`` more, on ``clock``.
        """
        if self.state.find_report(program, report_id) is None:
            raise KeyError(f"no {program} report with id {report_id!r}")
        return self.state.start_run(program, report_id, self.clock.now())

    def executions(self, program: str, report_id: str) -> list[dict[str, Any]]:
        """Every execution of the report as the service would answer it now (documented names),
        completed ones with their location and a fresh link on the file host. Reads no clock step."""
        self.state.advance_runs(program, report_id, self.clock.now(), self.runs)
        return [self.files.render(e, program, self.url) for e in self.state.executions(program, report_id)]

    def report_file(self, program: str, report_id: str, execution_id: str) -> ReportFile:
        """The execution's file as a pipeline should end up with it (plain, no BOM) and its data rows."""
        execution = self.state.find_execution(program, report_id, execution_id)
        if execution is None:
            raise KeyError(f"no execution {execution_id!r} of {program} report {report_id!r}")
        return report_file(self.state.report(program, report_id), execution["ExecutionId"])

    def expire_links(self) -> None:
        """Every ``ReportAccessSecureLink`` handed out so far now answers as an expired link (403)."""
        self.files.expire_links()

    def expire_next_links(self, count: int = 1) -> None:
        """The next ``count`` links handed out (one per completed execution answered) are already
        expired when used: a client that downloads at once still meets an expired link."""
        self.files.expire_next_links(count)

    @property
    def file_url(self) -> str:
        """Where report files are served: the same server under a second host name."""
        return self.files.base_url(self.url)

    def file_requests(self) -> list[RequestRecord]:
        """Calls to the file host, in order; ``authorization`` says whether one carried that header."""
        return [r for r in self.request_log.records() if r.kind == "file"]

    # -- tokens and log ----------------------------------------------------------
    def revoke_tokens(self) -> None:
        """Every access token issued so far now answers 401."""
        self.tokens.revoke_access_tokens()

    def expire_tokens(self) -> None:
        """Every access token issued so far is now past its expiry (401), as after an hour."""
        self.tokens.expire_access_tokens()

    def new_refresh_token(self, mfa: bool = True) -> str:
        """A refresh token for ``client_id``, as a user's sign-in would mint it.

        ``mfa=False``: the user did not pass multi-factor authentication, so the API answers
        the App+User tokens it is redeemed for with 401 ``MFA required. (10001)``.
        """
        return self.tokens.issue_refresh_token(self.client_id, mfa=mfa)

    def expire_refresh_tokens(self) -> None:
        """Redeeming any refresh token known so far now fails with AADSTS700082."""
        self.tokens.expire_refresh_tokens()

    def revoke_refresh_tokens(self) -> None:
        """Redeeming any refresh token known so far now fails with AADSTS50173 (revoked for the user)."""
        self.tokens.revoke_refresh_tokens_for_user()

    # -- device-code sign-in: the person at the browser -------------------------------
    def wait_for_device_code(self, timeout: float = 10.0) -> str:
        """The user code a client is now showing its user (``TimeoutError`` if none asked in time)."""
        return self.device_codes.wait_for_code(timeout)

    def approve_device_code(self, user_code: str) -> None:
        """The user signs in with multi-factor authentication and approves; the next poll gets tokens."""
        self.device_codes.approve(user_code)

    def decline_device_code(self, user_code: str) -> None:
        """The user refuses the sign-in; the next poll answers ``authorization_declined``."""
        self.device_codes.decline(user_code)

    def expire_device_code(self, user_code: str) -> None:
        """The code's time is up; the next poll answers ``expired_token``."""
        self.device_codes.expire(user_code)

    def expire_refresh_token(self, token: str) -> None:
        """Redeeming this one refresh token now fails with AADSTS700082; the others still work.

        ``KeyError`` if the emulator never issued it (nor was given it as ``refresh_token``).
        """
        self.tokens.expire_refresh_token(token)

    @property
    def requests(self) -> list[RequestRecord]:
        """API, token and file-host calls, in order (OpenID discovery is left out; see ``all_requests``)."""
        return self.request_log.records()

    @property
    def all_requests(self) -> list[RequestRecord]:
        return self.request_log.records(include_discovery=True)

    def api_requests(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[RequestRecord]:
        return [
            r
            for r in self.request_log.records()
            if r.kind == "api"
            and (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        ]

    def connections(self) -> dict[str, int]:
        """TLS connections: ``accepted`` (since the start or ``reset()``), ``open`` now, ``peak_open``
        (the most open at once over the same span). Each request in the log names its ``connection``."""
        return self.connection_stats.to_dict()

    def token_requests(self, grant_type: str | None = None) -> int:
        return sum(
            1
            for r in self.request_log.records()
            if r.kind == "token" and (grant_type is None or r.grant_type == grant_type)
        )

    def reset(self) -> None:
        """Back to the seeded reports, default behaviour, no faults and an empty log; tokens stay valid."""
        self.state.reset()
        self.behaviour.reset()
        self.behaviour.page_size = self._initial_page_size
        self.faults.clear()
        self.request_log.clear()
        self.runs.reset()  # the clock keeps its time: time never goes back
        self.connection_stats.reset()
