"""The Apprise plugin's settings, each declared once: an account (``provider: apprise``: the
Apprise URLs, by target name) and the ``apprise`` channel. The core reads the YAML into these
classes; :mod:`notifykit_apprise.plugin` hands the instances to the client and the channel.

Every URL is a secret (Apprise URLs carry the services' tokens): scrubbed from every problem,
report and log, and (a target's one-URL form) a warning when written in the file instead of
``${ENV_VAR}``. Loading this
module imports neither Apprise nor YAML; the URL validator imports Apprise when it runs.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping

from notifykit.config.settings import Duration, Settings, setting

__all__ = [
    "TITLE_FIELDS",
    "AppriseAccountSettings",
    "AppriseChannelSettings",
    "AppriseTarget",
    "redirect_problems",
    "title_problems",
    "urls_problems",
]

#: what a channel's ``title`` may name: ``{event}`` and ``{severity}``
TITLE_FIELDS = ("event", "severity")


def urls_problems(urls: Iterable[str]) -> Iterable[str]:
    """Why Apprise cannot notify each URL of a list (``[2]: Apprise has no jsn:// service``):
    never the URL itself. Nothing while Apprise is not installed (the account says so, once), nor
    for a dry run's unset ``${VAR}`` (not a plain ``str``: there is nothing to check yet)."""
    from notifykit_apprise.client import AppriseNotInstalledError, load_apprise, url_problems

    try:
        apprise = load_apprise()
    except AppriseNotInstalledError:
        return
    urls = list(urls)
    for index, url in enumerate(urls, 1):
        if type(url) is not str:
            continue
        for problem in url_problems(url, apprise):
            yield f"[{index}]: {problem}" if len(urls) > 1 else problem


def redirect_problems(url: str) -> Iterable[str]:
    """:func:`urls_problems` of a single URL."""
    return urls_problems([url])


def title_problems(title: str) -> Iterable[str]:
    """A title names only ``{event}`` and ``{severity}`` (``{{`` for a brace)."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(title) if name is not None]
    except ValueError as err:
        yield f"{title!r} is not a title: {err} (write {{{{ for a brace)"
        return
    unknown = [name for name in fields if name not in TITLE_FIELDS]
    for name in unknown:
        yield (
            f"{title!r} names {{{name}}}: a title may name {{event}} and {{severity}} "
            "(write {{ for a brace)"
        )
    if not unknown:
        try:
            title.format(event="db.down", severity="critical")
        except (ValueError, TypeError) as err:
            yield f"{title!r} is not a title: {err}"


class AppriseTarget(Settings):
    """An entry of an Apprise account's ``targets``: where one recipient (a person, a room) is
    notified. A recipient names it with ``addresses: {apprise: NAME}``."""

    urls: tuple[str, ...] = setting(
        secret=True,
        one_or_many=True,
        min_items=1,
        check=urls_problems,
        doc="its Apprise URLs (one, or a list: each is notified); they hold tokens: "
        "write them as ${ENV_VAR}",
    )


class AppriseAccountSettings(Settings):
    """An Apprise account (``provider: apprise``): the Apprise URLs notifykit may notify, by
    target name."""

    targets: Mapping[str, AppriseTarget] = setting(
        doc="the targets by name (a recipient's addresses.apprise), each {urls: ...}"
    )
    timeout: Duration | None = setting(
        default=None,
        min=0.1,
        max=300.0,
        doc="per request, to connect and to answer (default: Apprise's 4s each, or the URL's "
        "cto and rto)",
    )
    throttle: Duration | None = setting(
        default=None,
        min=0.0,
        max=60.0,
        doc="the least time between two requests through one URL (default: Apprise's own for "
        "its service, up to 5.5s; 0s: none)",
    )
    redirect: str | None = setting(
        default=None,
        secret=True,
        check=redirect_problems,
        doc="an Apprise URL notified instead of every target's own (a staging receiver); "
        "--sandbox sets it to a local receiver",
    )

    def __post_init__(self) -> None:
        if self.targets is not None and not self.targets and self.redirect is None:
            raise ValueError("an Apprise account needs at least one target under targets:")


class AppriseChannelSettings(Settings):
    """An ``apprise`` channel: notifies each recipient's target of an Apprise account."""

    account: str = setting(ref="account", doc="the Apprise account (provider: apprise)")
    title: str = setting(
        default="{event} ({severity})",
        check=title_problems,
        doc="the notification's title: may name {event} and {severity}",
    )
