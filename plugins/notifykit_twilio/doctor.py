"""``notifykit doctor``'s ``twilio.config`` check: the mistakes of a Twilio setup that the
settings alone cannot see, read from the config; nothing is sent or asked.

- a ``twilio-call`` channel on an account without a ``from`` number (calls need one);
- a ``twilio-call`` channel paging an escalation step without ``server.public_url``: the call
  only says the text, nobody can press a key to acknowledge;
- ``server.public_url`` on plain ``http://`` to a host other than this machine: Twilio's docs
  ask for https, and the keypress would cross the network readable.

The ``twilio`` plugin registers it (:func:`notifykit_twilio.plugin.register_checks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from notifykit.checks import CheckContext, Finding
from notifykit_twilio.plugin import CHECKS as CHECKS  # declared where the plugin registers them

__all__ = ["CHECKS", "check_config"]

CALL_TYPE = "twilio-call"


def check_config(ctx: CheckContext) -> Iterator[Finding]:
    from notifykit.config.settings import is_loopback
    from notifykit_twilio.settings import AccountSettings

    config = ctx.config
    public = config.server.public_url
    calls = {name: c for name, c in config.channels.items() if c.type == CALL_TYPE}
    for name, channel in calls.items():
        account = config.accounts.get(getattr(channel.settings, "account", ""))
        settings = account.settings if account is not None else None
        if isinstance(settings, AccountSettings) and not (settings.from_number or "").startswith(
            "+"
        ):
            yield ctx.finding(
                "error",
                f"channels.{name}",
                f"channel {name} places Twilio calls from account {account.name if account else ''}"
                ", which has no `from` number: a call needs a number of the account in E.164",
            )
    if not calls:
        return
    warned: set[str] = set()
    for use in ctx.uses():
        if use.channel_type != CALL_TYPE or not use.escalation or public:
            continue
        if use.channel in warned:
            continue
        warned.add(use.channel)
        yield ctx.finding(
            "warning",
            use.path,
            f"channel {use.channel} calls for an escalation step, but server.public_url is not "
            "set: the call only says the text, and nobody can press a key to acknowledge; set "
            "server.public_url to where Twilio reaches `notifykit serve`",
        )
    if public:
        parts = urlsplit(public)
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            yield ctx.finding(
                "warning",
                "server.public_url",
                "Twilio fetches the calls' TwiML from server.public_url over plain http://: "
                "use https:// (Twilio's webhook security guide asks for it)",
            )
