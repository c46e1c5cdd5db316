"""Run the Exotel simulator in the foreground: ``python -m notifykit_exotel.simulator``."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from ..wire import is_loopback
from .server import ExotelSimulator


def build_parser() -> argparse.ArgumentParser:
    """The command line: where to listen, which credentials to accept, how to behave."""
    parser = argparse.ArgumentParser(
        prog="python -m notifykit_exotel.simulator",
        description="Serve a local imitation of Exotel's v1 API (calls and SMS) on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=4041, help="TCP port (0 = any free port)")
    parser.add_argument("--sid", default="ACsim", help="account SID expected in the URL path")
    parser.add_argument("--token", default="sim-token", help="API token (Basic-auth password)")
    parser.add_argument("--api-key", default=None, help="API key (Basic-auth user; default: SID)")
    parser.add_argument("--rate-limit", type=int, default=200, help="requests per window")
    parser.add_argument("--rate-window", type=float, default=60.0, help="window in seconds")
    parser.add_argument(
        "--auto-progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="deliver each SMS and complete each call shortly after creation (default: on)",
    )
    parser.add_argument(
        "--progress-delay", type=float, default=2.0, help="seconds before auto-progress"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the simulator, print how to reach it, and serve until interrupted."""
    args = build_parser().parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"error: refusing to listen on {args.host!r}: the simulator accepts known credentials "
            "and must only be reachable from this machine (use 127.0.0.1 or localhost)",
            file=sys.stderr,
        )
        return 2
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
    )
    try:
        simulator.start()
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    print(f"Exotel simulator listening on {simulator.base_url}")
    print(f"  account SID: {simulator.sid}")
    print(f"  API key:     {simulator.api_key}")
    print(f"  API token:   {simulator.token}")
    print(f"  e.g. POST {simulator.base_url}/v1/Accounts/{simulator.sid}/Sms/send.json")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
