"""Run the Exotel simulator in the foreground: ``python -m notifykit_exotel.simulator``.

``press``, ``missed-call``, ``incoming-call`` and ``flow`` as first argument steer a running one
instead (see :mod:`.control`).

:func:`main` takes the same arguments a ``notifykit simulator`` command would pass through, and
:func:`run` serves an already configured :class:`ExotelSimulator` until interrupted, so the
notifykit CLI can expose this without duplicating the flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from ..wire import is_loopback
from . import control
from .flowrun import APPLET_TIMEOUT
from .models import Fault
from .progression import CALL_OUTCOMES, SMS_OUTCOMES
from .server import ExotelSimulator, access_log
from .transport import MAX_BODY_BYTES, READ_TIMEOUT, PortInUseError

DEFAULT_PORT = 4041
DEFAULT_TOKEN = "sim-token"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line: where to listen, which credentials to accept, how to behave."""
    parser = argparse.ArgumentParser(
        prog=prog or "python -m notifykit_exotel.simulator",
        description=(
            "Serve a local imitation of Exotel's v1 API (calls and SMS) on loopback, with an "
            "admin API under /_sim (see docs/simulator.md)."
        ),
        epilog=(
            "To steer a running simulator instead: press NUMBER KEYS..., missed-call FROM "
            "EXOPHONE, incoming-call FROM EXOPHONE, flow SID [--wait S] (each takes --url, "
            f"default {control.DEFAULT_URL}; e.g. press --help)."
        ),
    )
    listen = parser.add_argument_group("listening")
    listen.add_argument(
        "--host", default="127.0.0.1", help="loopback address: 127.0.0.1, ::1 or localhost"
    )
    listen.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (0 = any free port)"
    )
    listen.add_argument("--quiet", action="store_true", help="no per-request log line on stderr")
    account = parser.add_argument_group("account")
    account.add_argument("--sid", default="ACsim", help="account SID expected in the URL path")
    account.add_argument("--token", default=DEFAULT_TOKEN, help="API token (Basic-auth password)")
    account.add_argument("--api-key", default=None, help="API key (Basic-auth user; default: SID)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--rate-limit", type=int, default=200, help="requests per window")
    limits.add_argument("--rate-window", type=float, default=60.0, help="window in seconds")
    limits.add_argument(
        "--retry-after",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="send Retry-After with rate-limit 429s (default: off; Exotel's is unconfirmed)",
    )
    limits.add_argument(
        "--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="larger bodies get 413"
    )
    limits.add_argument(
        "--read-timeout",
        type=float,
        default=READ_TIMEOUT,
        help="seconds a connection may stay silent before it is closed",
    )
    progress = parser.add_argument_group("progression")
    progress.add_argument(
        "--auto-progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="move each SMS and call along by itself (default: on)",
    )
    progress.add_argument(
        "--progress-delay", type=float, default=2.0, help="seconds between progression steps"
    )
    progress.add_argument(
        "--call-duration", type=int, default=17, help="seconds an answered call lasts"
    )
    progress.add_argument(
        "--outcome",
        action="append",
        default=[],
        metavar="NUMBER=OUTCOME",
        help=(
            "how calls/SMS to NUMBER end (repeatable); calls: "
            f"{'|'.join(CALL_OUTCOMES)}, SMS: {'|'.join(SMS_OUTCOMES)}"
        ),
    )
    progress.add_argument(
        "--outcome-fraction",
        action="append",
        default=[],
        metavar="OUTCOME=FRACTION",
        help="a fraction of calls/SMS end OUTCOME, e.g. failed=0.1 (repeatable)",
    )
    progress.add_argument(
        "--dnd",
        action="append",
        default=[],
        metavar="NUMBER",
        help="a DND number: promotional SMS to it end failed_dnd (repeatable)",
    )
    progress.add_argument("--seed", type=int, default=None, help="seed for fractions and faults")
    flows = parser.add_argument_group("call flows")
    flows.add_argument(
        "--flow",
        action="append",
        default=[],
        metavar="JSON|FILE",
        help=(
            'register a call flow (repeatable): a JSON object {"flow_id", "applets": [...], '
            '"exophone"?} or a list of them, inline or in a file'
        ),
    )
    flows.add_argument(
        "--digits",
        action="append",
        default=[],
        metavar="NUMBER=KEYS",
        help="keys NUMBER presses at its next gather (repeatable, in order; NUMBER= presses none)",
    )
    flows.add_argument(
        "--applet-timeout",
        type=float,
        default=APPLET_TIMEOUT,
        help="seconds each applet request waits for its URL",
    )
    flows.add_argument(
        "--gather-wait",
        type=float,
        default=0.0,
        help="seconds a gather with no keys queued waits for some (e.g. from `press`)",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help=(
            "inject a fault (repeatable): comma-separated key=value pairs such as "
            "'status=503,code=35008,retry_after=2,path=Sms/send,times=3' or 'drop,fraction=0.1' "
            "(keys: status code message retry_after delay drop non_json method path times "
            "fraction), or a JSON object"
        ),
    )
    return parser


def parse_fault(spec: str) -> tuple[Fault, int | None, float | None]:
    """A ``--fault`` value as (fault, times, fraction); ValueError naming what is wrong."""
    text = spec.strip()
    data: dict[str, Any]
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ValueError(f"--fault {spec!r} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"--fault {spec!r} must be a JSON object")
    else:
        data = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                data[key] = True  # a bare flag: drop, non_json
            elif key in ("status", "code", "times"):
                try:
                    data[key] = int(value)
                except ValueError:
                    raise ValueError(f"--fault {key}={value!r} must be a whole number") from None
            elif key in ("retry_after", "delay", "fraction"):
                try:
                    data[key] = float(value)
                except ValueError:
                    raise ValueError(f"--fault {key}={value!r} must be a number") from None
            elif key in ("drop", "non_json"):
                data[key] = value.strip().lower() in ("1", "true", "yes", "on")
            else:
                data[key] = value
    times = data.pop("times", None)
    fraction = data.pop("fraction", None)
    try:
        fault = Fault.from_dict(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--fault {spec!r}: {err}") from None
    if times is not None and (not isinstance(times, int) or isinstance(times, bool)):
        raise ValueError(f"--fault {spec!r}: times must be a whole number")
    if fraction is not None and not isinstance(fraction, (int, float)):
        raise ValueError(f"--fault {spec!r}: fraction must be a number")
    return fault, times, None if fraction is None else float(fraction)


def _pair(value: str, flag: str, example: str) -> tuple[str, str]:
    left, sep, right = value.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise ValueError(f"{flag} {value!r} must look like {example}")
    return left.strip(), right.strip()


def configure(args: argparse.Namespace) -> ExotelSimulator:
    """Build the simulator the parsed arguments describe; ValueError for a bad flag."""
    if not is_loopback(args.host):
        raise ValueError(
            f"refusing to listen on {args.host!r}: the simulator accepts known credentials "
            "and must only be reachable from this machine (use 127.0.0.1, ::1 or localhost)"
        )
    simulator = ExotelSimulator(
        sid=args.sid,
        token=args.token,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        auto_progress=args.auto_progress,
        progress_delay=args.progress_delay,
        retry_after=args.retry_after,
        call_duration=args.call_duration,
        max_body_bytes=args.max_body_bytes,
        read_timeout=args.read_timeout,
    )
    for value in args.outcome:
        number, outcome = _pair(value, "--outcome", "+919876543210=busy")
        simulator.set_outcome(number, outcome)
    for value in args.outcome_fraction:
        outcome, fraction = _pair(value, "--outcome-fraction", "failed=0.1")
        try:
            share = float(fraction)
        except ValueError:
            raise ValueError(
                f"--outcome-fraction {value!r}: {fraction!r} is not a number"
            ) from None
        simulator.set_outcome_fraction(outcome, share, seed=args.seed)
    for number in args.dnd:
        simulator.mark_dnd(number)
    for spec in args.fault:
        fault, times, share_or_none = parse_fault(spec)
        simulator.inject(fault, times, fraction=share_or_none, seed=args.seed)
    simulator.applet_timeout = args.applet_timeout
    simulator.gather_wait = args.gather_wait
    for spec in args.flow:
        for flow in parse_flows(spec):
            simulator.add_flow(str(flow["flow_id"]), flow["applets"], exophone=flow.get("exophone"))
    for value in args.digits:
        number, sep, keys = value.partition("=")
        if not sep or not number.strip():
            raise ValueError(f"--digits {value!r} must look like +919876543210=1")
        simulator.queue_digits(number.strip(), keys.strip())
    return simulator


def parse_flows(spec: str) -> list[dict[str, Any]]:
    """A ``--flow`` value (inline JSON, or the path of a JSON file) as flow objects; ValueError
    naming what is wrong."""
    text = spec.strip()
    if not text.startswith(("{", "[")):
        try:
            with open(text, encoding="utf-8") as file:
                text = file.read()
        except OSError as err:
            raise ValueError(
                f"--flow {spec!r} is neither JSON nor a readable file: {err.strerror}"
            ) from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ValueError(f"--flow {spec!r} is not valid JSON: {err}") from None
    flows = data if isinstance(data, list) else [data]
    for flow in flows:
        if not isinstance(flow, dict) or not {"flow_id", "applets"} <= set(flow):
            raise ValueError(
                f'--flow {spec!r}: each flow is an object {{"flow_id", "applets", "exophone"?}}'
            )
        unknown = sorted(set(flow) - {"flow_id", "applets", "exophone"})
        if unknown:
            raise ValueError(f"--flow {spec!r}: unknown key(s) {', '.join(unknown)}")
    return flows


def run(
    simulator: ExotelSimulator,
    *,
    out: TextIO | None = None,
    log_requests: bool = True,
    show_token: bool = True,
    stop: threading.Event | None = None,
) -> int:
    """Start ``simulator``, print how to reach it, log each request on one line (to stderr),
    and serve until Ctrl-C, SIGTERM or ``stop`` is set. Returns the exit status: 0, or 1 when
    the port is in use or cannot be bound."""
    out = out or sys.stdout
    try:
        simulator.start()
    except PortInUseError as err:
        print(f"error: {err.strerror}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot listen on {simulator.host}: {err}", file=sys.stderr)
        return 1
    handler: logging.Handler | None = None
    if log_requests:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    stop = stop or threading.Event()
    restore = _on_sigterm(stop)
    try:
        print(f"Exotel simulator listening on {simulator.base_url}", file=out)
        print(f"  account SID: {simulator.sid}", file=out)
        print(f"  API key:     {simulator.api_key}", file=out)
        # A token given on the command line is the user's own: do not echo it back.
        token = simulator.token if show_token else "(as given with --token)"
        print(f"  API token:   {token}", file=out)
        print(
            f"  e.g. POST {simulator.base_url}/v1/Accounts/{simulator.sid}/Sms/send.json", file=out
        )
        print(f"  admin API:   {simulator.admin_url} (GET it for the list)", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            print("\nstopping", file=sys.stderr)
    finally:
        restore()
        simulator.stop()
        if handler is not None:
            access_log.removeHandler(handler)
    return 0


def _on_sigterm(stop: threading.Event) -> Any:
    """Let SIGTERM stop the simulator cleanly (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return lambda: signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments), then :func:`run` the simulator.

    Returns the exit status: 0 after a clean stop, 1 when the port is in use, 2 for bad
    arguments (including a non-loopback host).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in control.COMMANDS:
        return control.main(arguments, prog=prog)
    args = build_parser(prog).parse_args(arguments)
    try:
        simulator = configure(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return run(simulator, log_requests=not args.quiet, show_token=args.token == DEFAULT_TOKEN)


if __name__ == "__main__":
    sys.exit(main())
