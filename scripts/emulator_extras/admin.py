"""Admin endpoints under ``/_emulator/`` so another process (the demo, the e2e scripts) can steer it.

In-process tests call the ``Emulator`` handle instead; ``attach(emulator)`` adds these
endpoints to one (``python -m emulator_extras`` does, for ``EmulatorProcess``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights.emulator.messages import Request, Response

if TYPE_CHECKING:
    from airflow_provider_pcinsights.emulator import Emulator


def attach(emulator: Emulator) -> Emulator:
    """Serve the admin endpoints from ``emulator``; returns it."""
    emulator.router.admin = Admin(emulator).handle
    return emulator


class Admin:
    """``GET requests``, ``GET reports?program=``, ``POST faults``, ``POST behaviour``, ``POST reset``,
    and ``POST report-status``, ``POST status-after-reads``, ``GET reads?program=&report_id=``,
    ``POST revoke-tokens``, ``GET state`` and ``GET connections`` for convenience; ``GET device-codes``
    (pending user codes) and ``POST device-codes``
    (``{"user_code": ..., "action": "approve" | "decline" | "expire"}``), the person at the browser
    of a device-code sign-in; ``GET/POST clock`` (``{"advance": s, "step_per_read": s}``),
    ``POST runs`` (run times), ``POST run-report``, ``GET executions?program=&report_id=`` and
    ``POST expire-links`` for executions and their files."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        if request.client_address not in ("127.0.0.1", "::1"):
            return Response.json(403, {"error": "admin endpoints answer loopback clients only"})
        name = request.path[len("/_emulator/") :].strip("/")
        route = (request.method, name)
        try:
            if route == ("GET", "requests"):
                include = (request.param("all") or "").lower() in ("1", "true", "yes")
                return Response.json(
                    200, [r.to_dict() for r in self.emulator.request_log.records(include_discovery=include)]
                )
            if route == ("GET", "reports"):
                return Response.json(200, self.emulator.state.reports(request.param("program") or "mpn"))
            if route == ("GET", "state"):
                return Response.json(200, self._state())
            if route == ("GET", "connections"):
                return Response.json(200, self.emulator.connections())
            if route == ("POST", "faults"):
                self.emulator.faults.configure(self._body(request))
                return Response.json(200, {"pending": self.emulator.faults.pending()})
            if route == ("POST", "behaviour"):
                self.emulator.behaviour.update(self._body(request))
                return Response.json(200, self.emulator.behaviour.to_dict())
            if route == ("POST", "reset"):
                self.emulator.reset()
                return Response.json(200, {"reset": True})
            if route == ("POST", "report-status"):
                body = self._body(request)
                record = self.emulator.set_report_status(
                    str(body.get("program", "mpn")),
                    str(body.get("report_id", "")),
                    str(body.get("status", "")),
                )
                return Response.json(200, record)
            if route == ("POST", "status-after-reads"):
                body = self._body(request)
                self.emulator.change_status_after_reads(
                    str(body.get("program", "mpn")),
                    str(body.get("report_id", "")),
                    str(body.get("status", "")),
                    body.get("reads", 1),
                )
                return Response.json(200, {"scheduled": self.emulator.scheduled_status_changes()})
            if route == ("GET", "reads"):
                program, report_id = request.param("program") or "mpn", request.param("report_id") or ""
                return Response.json(200, {"reads": self.emulator.reads(program, report_id)})
            if route == ("GET", "device-codes"):
                return Response.json(200, {"pending": self.emulator.device_codes.pending()})
            if route == ("POST", "device-codes"):
                body = self._body(request)
                act = {
                    "approve": self.emulator.approve_device_code,
                    "decline": self.emulator.decline_device_code,
                    "expire": self.emulator.expire_device_code,
                }.get(str(body.get("action")))
                if act is None:
                    raise ValueError("action must be one of approve, decline, expire")
                act(str(body.get("user_code", "")))
                return Response.json(200, {"pending": self.emulator.device_codes.pending()})
            if route == ("GET", "clock"):
                return Response.json(200, self.emulator.clock.to_dict())
            if route == ("POST", "clock"):
                body = self._body(request)
                if "step_per_read" in body:
                    self.emulator.clock.step_per_read = body["step_per_read"]
                if "advance" in body:
                    self.emulator.clock.advance(body["advance"])
                return Response.json(200, self.emulator.clock.to_dict())
            if route == ("POST", "runs"):
                self.emulator.runs.update(self._body(request))
                return Response.json(200, self.emulator.runs.to_dict())
            if route == ("POST", "run-report"):
                body = self._body(request)
                return Response.json(
                    200,
                    self.emulator.run_report(str(body.get("program", "mpn")), str(body.get("report_id", ""))),
                )
            if route == ("GET", "executions"):
                program, report_id = request.param("program") or "mpn", request.param("report_id") or ""
                if self.emulator.state.find_report(program, report_id) is None:
                    raise KeyError(f"no {program} report with id {report_id!r}")
                return Response.json(200, self.emulator.executions(program, report_id))
            if route == ("POST", "expire-links"):
                body = self._body(request)
                if "next" in body:
                    self.emulator.expire_next_links(body["next"])
                else:
                    self.emulator.expire_links()
                return Response.json(200, {"expired": True})
            if route == ("POST", "revoke-tokens"):
                self.emulator.revoke_tokens()
                return Response.json(200, {"revoked": True})
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return Response.json(400, {"error": str(error).strip("'\"")})
        return Response.json(404, {"error": f"no admin endpoint {request.method} /_emulator/{name}"})

    def _state(self) -> dict[str, Any]:
        emu = self.emulator
        return {
            "url": emu.url,
            "behaviour": emu.behaviour.to_dict(),
            "faults": {
                "latency": emu.faults.latency,
                "error_rate": emu.faults.error_rate,
                "pending": emu.faults.pending(),
                "periodic": emu.faults.periodic(),
                "rate_limit": emu.faults.rate_limit_state(),
                "mix": emu.faults.random()["mix"],
            },
            "connections": emu.connections(),
            "scheduled_status_changes": emu.scheduled_status_changes(),
            "clock": emu.clock.to_dict(),
            "runs": emu.runs.to_dict(),
            "file_url": emu.file_url,
            "reports": {p: emu.state.report_ids(p) for p in emu.state.programs},
        }

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            raise ValueError("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body
