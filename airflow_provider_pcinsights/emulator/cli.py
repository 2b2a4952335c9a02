"""``python -m airflow_provider_pcinsights.emulator``: run the emulator as a process.

Prints one line, ``export AIRFLOW_CONN_PCINSIGHTS_DEFAULT='<json>'``, shell-quoted
so that pasting it as printed (or ``eval``) sets the connection for every command
run from that shell, then serves until SIGINT or SIGTERM. The certificates stay on
disk (``--state-dir`` or a temporary directory) while it runs, so the printed
connection works from any process.
"""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .behaviour import Behaviour
from .core import Emulator

# One line of --help for each behaviour option: what the default plays, what the others change.
BEHAVIOUR_HELP: dict[str, str] = {
    "pause_when_paused": "pausing a paused report: ok (200, unchanged) or reject (400)",
    "resume_when_active": "resuming an active report: ok (200, unchanged) or reject (400)",
    "resume_when_inactive": "resuming an Inactive report: reject (400), noop (200, stays Inactive), activate",
    "action_response": "pause/resume answers carry the record, or an empty value list",
    "next_link": "how nextLink points at the next page: absolute, relative, or one of the broken ways",
    "key_case": "key casing of answers: mixed (as Microsoft's samples), camel, or pascal (as the docs)",
    "key_spacing": "stray_space spells one record key with a leading space, as a Microsoft sample does",
    "bom": "JSON answers (API and Entra) start with a UTF-8 byte-order mark (on) or not",
    "format_case": "the Format of reports is answered lower-case (csv) or upper-case (CSV)",
    "null_times": "ModifiedTime and a seeded run's ReportExpiryTime are null (on) or filled in",
    "cmp_envelope": "cmp envelopes leave out dataRedacted and a last nextLink (sparse) or carry them",
    "error_shape": "error bodies: mixed (401/403 in Partner Center's shape, the rest Insights'), or one",
    "executions_not_found": "the 404 text of an executions call with nothing to show",
    "retry_after_header": "whether a 429 carries Retry-After: every second one leaves it out (sometimes)",
    "app_only_on_mpn": "what mpn answers an app-only (client credentials) token: 401, 403, or allow it",
    "file_bom": "report files start with a UTF-8 byte-order mark inside their gzip (on) or not",
    "file_compression": "report files are gzip-compressed though named .csv, or plain (none)",
    "multi_report_id": "cmp's reportId=a;b read as two ids (accept), refused (reject), or as one id",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_pcinsights.emulator",
        description="Local HTTPS stand-in for Microsoft Entra ID and the Partner Center Insights API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--reports", type=_non_negative_int, default=3, help="reports each program starts with (default 3)"
    )
    parser.add_argument(
        "--page-size", type=_positive_int, default=100, help="reports per page of a listing (default 100)"
    )
    parser.add_argument(
        "--token-lifetime",
        type=_positive_int,
        default=3599,
        help="seconds an access token is valid (default 3599, as Entra)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random choices of --error-rate (default 0)"
    )
    faults = parser.add_argument_group(
        "faults",
        "Faults apply to Insights API calls, never to the token endpoint. The periodic ones "
        "(--throttle-every, --drop-every, --hang-every) are deterministic: each counts API calls "
        "from startup, and when two fall on the same call, throttle wins over drop over hang. "
        "Every faulted call is logged with its fault.",
    )
    faults.add_argument(
        "--latency",
        type=_non_negative_float,
        default=0.0,
        metavar="S",
        help="seconds added to every API call (default 0)",
    )
    faults.add_argument(
        "--error-rate",
        type=_rate,
        default=0.0,
        metavar="R",
        help="share of API calls answering 503, 0 to 1 (default 0)",
    )
    faults.add_argument(
        "--throttle-every",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="429 on every Nth API call (0: never)",
    )
    faults.add_argument(
        "--retry-after",
        type=_non_negative_float,
        default=1.0,
        metavar="S",
        help="Retry-After seconds of those 429s (default 1)",
    )
    faults.add_argument(
        "--rate-limit",
        type=_positive_float,
        metavar="R",
        help="the service's rate limit: R API calls a second (a token bucket), then 429s",
    )
    faults.add_argument(
        "--rate-burst",
        type=_positive_int,
        metavar="B",
        help="calls the --rate-limit bucket holds (default: one second's worth)",
    )
    faults.add_argument(
        "--drop-every",
        type=_positive_int,
        metavar="N",
        help="close the connection without answering on every Nth API call",
    )
    faults.add_argument(
        "--hang-every",
        type=_positive_int,
        metavar="N",
        help="hold every Nth API call --hang-seconds before answering it (other calls go on)",
    )
    faults.add_argument(
        "--hang-seconds",
        type=_non_negative_float,
        metavar="S",
        help="how long --hang-every holds a call (default 5)",
    )
    behaviour = parser.add_argument_group(
        "behaviour",
        "How the emulated service answers where the docs are silent. The defaults play the most "
        "awkward answers the real service is known to give; docs/design.md describes each.",
    )
    for name, allowed in Behaviour.choices().items():
        behaviour.add_argument(
            f"--{name.replace('_', '-')}",
            choices=allowed,
            default=getattr(Behaviour, name),
            help=f"{BEHAVIOUR_HELP[name]} (default {getattr(Behaviour, name)})",
        )
    runs = parser.add_argument_group(
        "runs",
        "A resumed (or ExecuteNow) report's run is Pending, then Running, then Completed with a file "
        "served from https://localhost:PORT behind a link that expires, on the emulator's clock "
        "(real time, plus what tests move it by).",
    )
    runs.add_argument(
        "--pending-seconds",
        type=_non_negative_float,
        default=60.0,
        metavar="S",
        help="how long a run stays Pending (default 60)",
    )
    runs.add_argument(
        "--running-seconds",
        type=_non_negative_float,
        default=120.0,
        metavar="S",
        help="how long a run stays Running before it is Completed (default 120)",
    )
    runs.add_argument(
        "--link-seconds",
        type=_non_negative_float,
        default=3600.0,
        metavar="S",
        help="how long a file's link works (default 3600)",
    )
    runs.add_argument(
        "--step-per-read",
        type=_non_negative_float,
        default=0.0,
        metavar="S",
        help="the clock moves this far after each answered read of executions (default 0)",
    )
    parser.add_argument(
        "--state-dir", type=Path, help="keep the certificates here (default: a temporary directory)"
    )
    parser.add_argument(
        "--conn-id",
        default="pcinsights_default",
        help="connection id of the printed line (default pcinsights_default)",
    )
    parser.add_argument(
        "--program",
        choices=("mpn", "cmp"),
        default="mpn",
        help="program of the printed connection (default mpn)",
    )
    parser.add_argument(
        "--auth-type",
        choices=("client_credentials", "refresh_token"),
        help="auth type of the printed connection (default: refresh_token on mpn, client_credentials on cmp)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    emulator = Emulator(**emulator_options(args))
    configure(emulator, args)
    return serve(emulator, args)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, with the checks that involve two of them (argparse's error, exit status 2)."""
    args = parser.parse_args(argv)
    if args.hang_seconds is not None and not args.hang_every:
        parser.error("--hang-seconds needs --hang-every")
    if args.rate_burst is not None and not args.rate_limit:
        parser.error("--rate-burst needs --rate-limit")
    return args


def emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Emulator(...)`` keyword arguments the options give."""
    return {
        "reports": args.reports,
        "page_size": args.page_size,
        "token_lifetime": args.token_lifetime,
        "seed": args.seed,
        "host": args.host,
        "port": args.port,
        "state_dir": args.state_dir,
    }


def configure(emulator: Emulator, args: argparse.Namespace) -> None:
    """Behaviour, run times and faults as the options say, before the emulator serves."""
    emulator.behaviour.update({name: getattr(args, name) for name in Behaviour.choices()})
    emulator.runs.update(
        {
            "pending_seconds": args.pending_seconds,
            "running_seconds": args.running_seconds,
            "link_seconds": args.link_seconds,
        }
    )
    emulator.clock.step_per_read = args.step_per_read
    emulator.faults.latency = args.latency
    emulator.faults.error_rate = args.error_rate
    emulator.faults.throttle_every(args.throttle_every, args.retry_after)
    if args.rate_limit:
        emulator.faults.rate_limit(args.rate_limit, args.rate_burst)
    if args.drop_every:
        emulator.faults.drop_every(args.drop_every)
    if args.hang_every:
        held = {} if args.hang_seconds is None else {"seconds": args.hang_seconds}
        emulator.faults.hang_every(args.hang_every, **held)


def serve(emulator: Emulator, args: argparse.Namespace) -> int:
    """Start, print the connection line, serve until SIGINT or SIGTERM, stop."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    emulator.start()
    try:
        env = emulator.connection_env(args.conn_id, program=args.program, auth_type=args.auth_type)
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        (Path(emulator.state_dir) / "connection.json").write_text(
            emulator.connection_json(program=args.program, auth_type=args.auth_type), encoding="utf-8"
        )
        print(
            f"pcinsights emulator at {emulator.url} (CA {emulator.ca_path}); "
            f"sign-in page: {emulator.url}/devicelogin; stop with Ctrl-C or SIGTERM",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    print("pcinsights emulator stopped", file=sys.stderr, flush=True)
    return 0


def _positive_int(text: str) -> int:
    value = _int(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value
