"""Steer a running simulator from a shell, through its admin API: press keys, call an ExoPhone.

``python -m notifykit_exotel.simulator press NUMBER KEYS...`` (and ``notifykit simulator press
...``) queues what NUMBER presses at its next gathers; ``missed-call FROM EXOPHONE`` and
``incoming-call FROM EXOPHONE`` call an ExoPhone whose flow is attached; ``flow SID`` prints a
call's flow transcript. Each prints the admin API's JSON answer. ``--url`` is the simulator's base
URL (default ``http://127.0.0.1:4041``, where ``notifykit simulator`` listens by default).

Exit status: 0 when the simulator did it, 1 when no simulator answers at ``--url``, 2 for bad
arguments or a request the simulator refused (its error is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import requests

#: The subcommands this module serves; anything else is the simulator's own flags.
COMMANDS = ("press", "missed-call", "incoming-call", "flow")
DEFAULT_URL = "http://127.0.0.1:4041"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m notifykit_exotel.simulator",
        description="Steer a running Exotel simulator through its admin API (/_sim).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--url", default=DEFAULT_URL, help=f"the simulator's base URL (default {DEFAULT_URL})"
        )
        return sub

    press = command("press", "queue the keys NUMBER presses at its next gathers, in order")
    press.add_argument("number", help="the number on the call, in any form (+919876543210)")
    press.add_argument(
        "keys", nargs="+", help='one entry per gather: 1, 1234#, or "" to let one time out'
    )
    for name, what in (("missed-call", "a missed call"), ("incoming-call", "a call, picked up")):
        sub = command(name, f"give EXOPHONE {what}: the flow attached to it plays")
        sub.add_argument("caller", help="the calling number")
        sub.add_argument("exophone", help="the ExoPhone called (its flow must be attached)")
    flow = command("flow", "print the flow transcript of call SID")
    flow.add_argument("sid", help="the CallSid")
    flow.add_argument(
        "--wait", type=float, default=0.0, help="wait up to this many seconds for it to end"
    )
    return parser


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    if args.command == "press":
        return "POST", "/digits", {"number": args.number, "digits": list(args.keys)}
    if args.command in ("missed-call", "incoming-call"):
        return "POST", f"/{args.command}", {"from": args.caller, "to": args.exophone}
    query = f"?wait={args.wait:g}" if args.wait else ""
    return "GET", f"/calls/{args.sid}/flow{query}", None


def main(argv: Sequence[str], *, prog: str | None = None) -> int:
    """Run one subcommand against a running simulator; returns the exit status."""
    args = build_parser(prog).parse_args(list(argv))
    base = args.url.rstrip("/")
    if base.endswith("/_sim"):
        base = base[: -len("/_sim")]
    method, path, body = _request(args)
    wait = float(getattr(args, "wait", 0.0) or 0.0)
    try:
        with requests.Session() as session:
            session.trust_env = False  # the simulator is on loopback: never through a proxy
            answer = session.request(method, f"{base}/_sim{path}", json=body, timeout=10 + wait)
    except requests.RequestException as err:
        print(
            f"error: no simulator answers at {base} ({type(err).__name__}): start one with "
            "`notifykit simulator` or pass --url",
            file=sys.stderr,
        )
        return 1
    try:
        payload = answer.json()
    except ValueError:
        print(
            f"error: {base} answered {answer.status_code}, not the simulator's JSON",
            file=sys.stderr,
        )
        return 1
    if not answer.ok:
        print(f"error: {payload.get('error', payload)}", file=sys.stderr)
        return 2
    print(json.dumps(payload, indent=2))
    return 0
