"""Send each call to Entra, the Insights API, the file host or an added handler; fault and log it.

Faults are decided here, before the handler runs, so a faulted call changes
nothing in the store, exactly as a call lost in front of the real service.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

from .behaviour import Behaviour
from .devicelogin import handle_device_login, is_device_login_path
from .entra import Entra, is_entra_path
from .envelope import envelope, error_body
from .faults import Fault, Faults
from .files import FileHost
from .insights import Insights, is_insights_path
from .messages import Request, Response
from .requestlog import RequestLog
from .state import PROGRAMS

ADMIN_PREFIX = "/_emulator/"
UTF8_BOM = b"\xef\xbb\xbf"
_STATUS_MESSAGES = {
    500: "An internal server error occurred. Correlation id: {cid}",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "Gateway timeout.",
}


class Router:
    def __init__(
        self,
        *,
        entra: Entra,
        insights: Insights,
        files: FileHost,
        faults: Faults,
        log: RequestLog,
        behaviour: Behaviour,
        stopping: threading.Event,
    ) -> None:
        self.entra = entra
        self.insights = insights
        self.files = files
        # Handler of ``/_emulator/`` calls, when one is added (the project's scripts add theirs).
        self.admin: Callable[[Request], Response] | None = None
        self.faults = faults
        self.log = log
        self.behaviour = behaviour
        self.stopping = stopping
        # Called after each call that may change the state (the scripts' persistence sets it).
        self.after_change: Callable[[], None] | None = None

    def handle(self, request: Request) -> Response:
        response = self._route(request)
        if self.after_change is not None and request.method != "GET":
            self.after_change()  # a token issued, a report paused, an admin change...
        return response

    def _route(self, request: Request) -> Response:
        if self.admin is not None and request.path.startswith(ADMIN_PREFIX):
            return self.admin(request)
        if is_device_login_path(request.path):  # the person's page, never faulted, as the admin calls
            return handle_device_login(request, self.entra.device_codes)
        if self.files.serves(request):
            # Like token calls, a download is faulted only by a rule that names its path.
            return self._with_faults(request, self.files.handle, token_call=True)
        if is_entra_path(request.path):
            return self._with_faults(request, self.entra.handle, token_call=True)
        if is_insights_path(request.path):
            return self._with_faults(request, self.insights.handle, token_call=False)
        return Response.json(
            404, error_body(404, "Resource not found.", program=None, behaviour=self.behaviour)
        )

    def _with_faults(
        self, request: Request, handler: Callable[[Request], Response], *, token_call: bool
    ) -> Response:
        fault = self.faults.take(request.path, is_token_call=token_call)
        if not token_call and self.faults.latency:
            self.stopping.wait(self.faults.latency)
        if fault is not None and fault.kind == "hang":
            self.stopping.wait(fault.seconds)
            if self.stopping.is_set() or fault.then == "close":
                return self._record(request, Response.dropped(), fault)
            response = handler(request)
        elif fault is not None and fault.kind in ("trickle", "truncate"):
            response = handler(request)  # the service's own answer, delivered badly
            response.trickle_seconds = fault.seconds if fault.kind == "trickle" else 0.0
            response.keep = fault.keep if fault.kind == "truncate" else None
            response.cut_close = fault.close
        elif fault is not None and fault.kind == "lose_answer":
            # Carried out (a change is applied and logged as such), then never answered.
            return self._record(request, Response.dropped(**handler(request).log), fault)
        elif fault is not None and fault.kind == "raw_body":
            return self._record(
                request, Response(fault.status, fault.raw, content_type=fault.content_type), fault
            )
        elif fault is not None:
            response = self._faulted(fault, request)
        else:
            response = handler(request)
        return self._record(request, self._with_bom(response), fault)

    def _with_bom(self, response: Response) -> Response:
        """The service's JSON (Entra's too) starts with a UTF-8 byte-order mark while ``bom`` is on."""
        if (
            self.behaviour.bom == "on"
            and not response.drop
            and response.body
            and response.content_type.startswith("application/json")
        ):
            response.body = UTF8_BOM + response.body
        return response

    def _faulted(self, fault: Fault, request: Request) -> Response:
        program = _program_of(request.path)
        behaviour = self.behaviour
        cid = (
            request.headers.get("client-request-id")
            or request.headers.get("x-ms-correlation-id")
            or "emulator"
        )
        if fault.kind == "drop":
            return Response.dropped()
        if fault.kind == "redirect":
            return Response(
                fault.status,
                b"",
                content_type=fault.content_type,
                headers={"Location": fault.location},
            )
        if fault.kind in ("throttle", "rate_limit"):
            return self._throttled(fault, program)
        if fault.kind == "echo":
            message = f"The upstream request failed. Request as received: {_echo(request)}"
            return Response.json(
                fault.status, error_body(fault.status, message, program=program, behaviour=behaviour)
            )
        message = fault.message or _STATUS_MESSAGES.get(fault.status, "The request failed.").format(cid=cid)
        if fault.kind == "error_in_body":
            return Response.json(
                200,
                envelope(
                    [],
                    program=program or "mpn",
                    behaviour=behaviour,
                    message=message,
                    status_code=fault.status,
                ),
            )
        if fault.kind == "html":
            return Response(
                fault.status, _html_page(fault.status, message), content_type="text/html; charset=utf-8"
            )
        if fault.kind == "json_body":
            return Response.json(fault.status, fault.body)
        return Response.json(
            fault.status, error_body(fault.status, message, program=program, behaviour=behaviour)
        )

    def _throttled(self, fault: Fault, program: str | None) -> Response:
        """A 429 with Partner Center's message, and ``Retry-After`` if the fault and the behaviour say so."""
        number = self.faults.count_throttle()
        seconds = 1.0 if fault.retry_after is None else fault.retry_after
        shown = int(seconds) if float(seconds).is_integer() else seconds
        choice = self.behaviour.retry_after_header
        header = fault.retry_after is not None and (
            choice == "always" or (choice == "sometimes" and number % 2 == 1)
        )
        return Response.json(
            429,
            error_body(
                429,
                f"Rate limit is exceeded. Try again in {shown} seconds.",
                program=program,
                behaviour=self.behaviour,
            ),
            headers={"Retry-After": str(shown)} if header else {},
        )

    def _record(self, request: Request, response: Response, fault: Fault | None) -> Response:
        fields: dict[str, Any] = {
            "kind": "api",
            # A faulted Entra call never reaches its handler: say what it was from the request alone.
            **(self.entra.log_fields(request) if is_entra_path(request.path) else {}),
            "method": request.method,
            "path": request.path,
            "query": request.flat_query(),
            "status": None if response.drop else response.status,
            "fault": fault.describe() if fault else None,
            "connection": request.connection,
        }
        if self.files.serves(request):
            fields.update(self.files.log_fields(request))
        fields.update({k: v for k, v in response.log.items() if v is not None})
        if fields["kind"] == "api" and "program" not in fields:
            parts = request.path.split("/")
            fields["program"] = parts[3] if len(parts) > 3 else None
        self.log.add(**fields)
        return response


def _program_of(path: str) -> str | None:
    """``mpn`` or ``cmp`` from ``/insights/{version}/{program}/...``; None for any other path."""
    parts = path.split("/")
    return parts[3] if len(parts) > 3 and parts[1] == "insights" and parts[3] in PROGRAMS else None


def _echo(request: Request) -> str:
    """The request as a careless proxy quotes it: request line, every header, the body."""
    query = "&".join(f"{k}={v}" for k, v in request.flat_query().items())
    lines = [f"{request.method} {request.path}{f'?{query}' if query else ''}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if request.body:
        lines.append(request.body.decode("utf-8", "replace"))
    return " | ".join(lines)


_PAGE_STYLE = (
    "html,body{margin:0;padding:0;height:100%}"
    "body{font-family:'Segoe UI','Segoe UI Web (West European)',-apple-system,BlinkMacSystemFont,Roboto,"
    "'Helvetica Neue',sans-serif;font-size:15px;color:#1b1b1b;background:#f2f2f2}"
    ".box{max-width:440px;margin:10vh auto 0;padding:44px;background:#fff;"
    "box-shadow:0 2px 6px rgba(0,0,0,0.2)}"
    "h1{font-size:24px;font-weight:600;margin:16px 0 12px}"
    "p{line-height:20px;margin:0 0 16px}"
    "input{width:100%;padding:6px 10px;border:0;border-bottom:1px solid #666;font-size:15px;"
    "box-sizing:border-box;margin-bottom:16px}"
    "button{min-width:108px;padding:4px 12px;border:0;background:#0067b8;color:#fff;font-size:15px}"
    ".footer{font-size:12px;color:#616161;text-align:center;margin-top:24px}"
)


def _html_page(status: int, message: str) -> bytes:
    """A page as long as real ones (several hundred bytes of markup before any text), so that a client
    quoting it has to cut it short: an error page, or for a 2xx a sign-in page."""
    if 200 <= status < 300:
        title = "Sign in to your account"
        content = (
            "<h1>Sign in</h1><p>Sign in to continue to Partner Center.</p>"
            '<form method="post" action="/login"><input type="email" name="loginfmt" '
            'placeholder="Email, phone, or Skype" autocomplete="username">'
            '<button type="submit">Next</button></form>'
        )
    else:
        title = f"{status} {html.escape(message)}"
        content = f"<h1>{status}</h1><p>{html.escape(message)}</p>"
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_PAGE_STYLE}</style></head>"
        f'<body><div class="box">{content}<div class="footer">Emulated page &middot; '
        "Partner Center insights</div></div></body></html>"
    )
    return page.encode()
