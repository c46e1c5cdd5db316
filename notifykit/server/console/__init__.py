"""The web console of ``notifykit serve`` (issue 19), at ``/console/``: the open alerts with
their receiver, escalation step and next step due, with acknowledge, resolve and silence
buttons; who each schedule has on call now and over the next 7 days; the silences, each with an
expire button; the heartbeats; the recent deliveries with their states and provider ids; the audit trail.

Server-rendered HTML (Jinja2, autoescaped; no script), made for a phone as much as a desk.
People log in with a password whose scrypt hash is in ``console.users``, or through a reverse
proxy that names them in ``console.trusted_header`` (accepted only from
``console.trusted_proxies``). Sessions are signed cookies (``HttpOnly``, ``SameSite=Strict``,
``Secure`` behind an https ``public_url``); every action carries the session's CSRF token and
must come from this origin; every answer is ``Cache-Control: no-store`` and refuses framing;
failed logins are rate-limited per address. Actions go through the Notifier's ``ack``,
``resolve``, ``silence`` and ``expire_silence`` and are recorded in the audit trail through
``web``, the logged-in user acting.

Without users and without a trusted header the console is off: its URLs answer ``404`` and
``notifykit serve`` logs that it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from notifykit.config.delivery import is_loopback
from notifykit.server.console.views import Console

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["Console", "announce_console", "register_console"]

logger = logging.getLogger("notifykit.console")


def register_console(add_route: Callable[..., None], notifier: Notifier) -> Console | None:
    """Add the console's routes when ``console:`` lets anyone in (``None`` when it is off).
    Nothing is logged here: :func:`announce_console` says so once the server listens, so a
    server that cannot bind prints its one error line and nothing before it."""
    settings = notifier.config.console
    if not settings.enabled:
        return None
    console = Console(notifier, settings)
    console.register(add_route)
    return console


def announce_console(notifier: Notifier) -> None:
    """Log where the console is (or that it is off), and warn when passwords would cross the
    network in the clear."""
    settings = notifier.config.console
    if not settings.enabled:
        logger.info(
            "web console off: console.users and console.trusted_header are not set "
            "(/console/ answers 404)"
        )
        return
    public = notifier.config.server.public_url or ""
    how = ", ".join(
        part
        for part in (
            _users(len(settings.users)) if settings.users else "",
            f"{settings.trusted_header} from {', '.join(settings.trusted_proxies)}"
            if settings.trusted_header
            else "",
        )
        if part
    )
    logger.info("web console at %s/console/ (%s)", public, how)
    host = urlsplit(public).hostname or ""
    if public.startswith("http://") and settings.users and not is_loopback(host):
        logger.warning(
            "web console: server.public_url is http://, so passwords and session cookies cross "
            "the network unencrypted unless it is this machine: put it behind https"
        )


def _users(count: int) -> str:
    return f"{count} user{'' if count == 1 else 's'} with passwords"
