"""``notifykit flows [--json]``: the exact URLs to paste into Exotel's applets, per account
(docs/exotel-flows.md walks through the dashboard).

Text: one block per Exotel account; ``--json``: ``{"<account>": {"voice", "digits",
"missed_call", "oncall"}}`` (``missed_call`` and ``oncall`` are ``null`` for an account without
``flow_secret``). The URLs carry the account's flow secret: they are printed on stdout for you
to paste, never logged. Needs ``server.public_url`` (exit 3 without it).
"""

from __future__ import annotations

from typing import Any

from notifykit.cli.common import EXIT_OK, EXIT_USAGE, Failure, State, command
from notifykit.cli.output import Result
from notifykit_exotel.flows import flow_urls

__all__ = ["flows", "flows_for"]

_LABELS = {
    "voice": "Greeting (read text from URL)",
    "digits": "Passthru after the Gather",
    "missed_call": "Passthru of the missed-call flow",
    "oncall": "Connect, dial whom (URL)",
}


def flows_for(config: Any) -> dict[str, dict[str, str | None]]:
    """The flow URLs of each Exotel account of ``config``; :class:`Failure` without
    ``server.public_url`` or without an Exotel account."""
    public = config.server.public_url
    if not public:
        raise Failure(
            "server.public_url is not set: Exotel reaches the flow URLs there (set it to where "
            "notifykit serve is reachable from the internet, over https)",
            EXIT_USAGE,
        )
    accounts = {n: a for n, a in config.accounts.items() if a.provider == "exotel"}
    if not accounts:
        raise Failure(
            "no Exotel account in the config (accounts: ... provider: exotel)", EXIT_USAGE
        )
    return {
        name: flow_urls(public, getattr(account.settings, "flow_secret", None))
        for name, account in accounts.items()
    }


def _lines(urls: dict[str, dict[str, str | None]]) -> list[str]:
    lines: list[str] = []
    for account, each in urls.items():
        lines.append(f"{account}:")
        for key, url in each.items():
            shown = url or "(set flow_secret: ${ENV_VAR} on the account)"
            lines.append(f"  {key:<12} {_LABELS[key]}:")
            lines.append(f"    {shown}")
    return lines


@command("flows")
def flows() -> Result:
    """Print the URLs to paste into Exotel's applets, per account: the paging flow's Greeting
    (voice) and Passthru (digits), the missed-call flow's Passthru and the on-call Connect."""
    state = State.current()
    urls = flows_for(state.notifier().config)
    return Result(urls, _lines(urls), EXIT_OK)
