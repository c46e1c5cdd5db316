"""Shell completion of the names a config defines: events, recipients and groups, channels,
receivers, schedules, and the keys of open alerts (click 8's ``shell_complete=``). docs/cli.md says how to
turn it on (``eval "$(_NOTIFYKIT_COMPLETE=bash_source notifykit)"``).

A completer reads the config as ``--dry-run --sandbox`` would (no secret needs to be set), from
``--config`` on the command line being completed, else ``$NOTIFYKIT_CONFIG``, else
``./notifykit.yaml``. It never fails and never prints: a config that does not load completes
nothing. Alert keys come from the ledger, only when it already exists (completion creates no
file).
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from notifykit.config.loader import Config

__all__ = [
    "complete_alert_keys",
    "complete_channels",
    "complete_events",
    "complete_receivers",
    "complete_recipients",
    "complete_schedules",
]

#: what a shell takes as one plain word; bash gets anything else single-quoted (an alert key's
#: braces and commas would otherwise go through brace expansion)
_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+=%,-]*")


@contextmanager
def _silent() -> Iterator[None]:
    """No log record or warning may reach the terminal in the middle of a command line."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _config_option(ctx: click.Context) -> str | None:
    """``--config``/``-c`` as given before the command (the group's parameter) or after it
    (read from the words being completed: that option is not exposed to the command)."""
    given = ctx.find_root().params.get("config")
    if given:
        return str(given)
    from click.shell_completion import split_arg_string

    words = split_arg_string(os.environ.get("COMP_WORDS", ""))
    for i, word in enumerate(words):
        if word in ("-c", "--config") and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--config="):
            return word.partition("=")[2]
    return None


def _load(ctx: click.Context) -> tuple[Path, Config] | None:
    from notifykit.config.loader import find_config, load_config
    from notifykit.plugins import Registry, get_plugin_manager

    with _silent():
        try:
            path = find_config(_config_option(ctx))
            registry = Registry.from_manager(get_plugin_manager())
            return path, load_config(path, registry=registry, sandbox=True, dry_run=True)
        except Exception:  # completion shows nothing rather than an error
            return None


def _items(names: Iterable[str], incomplete: str, *, separated: bool = False) -> list[Any]:
    """``names`` starting with ``incomplete``, sorted; ``separated``: the option takes
    ``a,b,c``, so only the part after the last comma is completed."""
    head, comma, last = incomplete.rpartition(",") if separated else ("", "", incomplete)
    prefix = head + comma
    quote = os.environ.get("_NOTIFYKIT_COMPLETE", "").startswith("bash")
    items = []
    for name in sorted(set(names)):
        if not name.startswith(last):
            continue
        value = prefix + name
        if quote and not _PLAIN.fullmatch(value):
            value = "'" + value.replace("'", "'\\''") + "'"
        items.append(CompletionItem(value))
    return items


def _completer(
    names: Callable[[Config], Iterable[str]], *, separated: bool = False
) -> Callable[[click.Context, click.Parameter, str], list[Any]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        loaded = _load(ctx)
        if loaded is None:
            return []
        return _items(names(loaded[1]), incomplete, separated=separated)

    return complete


def _events(config: Config) -> Iterable[str]:
    routing = config.routing
    return {*config.events, *(routing.named_events() if routing is not None else ())}


def _receivers(config: Config) -> Iterable[str]:
    routing = config.routing
    return routing.receivers if routing is not None and not routing.implicit else ()


#: ``EVENT`` arguments: the events of ``events:`` and of the routes' ``event="..."`` matchers
complete_events = _completer(_events)
#: ``--to``: recipients and groups
complete_recipients = _completer(lambda c: {*c.recipients, *c.groups}, separated=True)
#: ``--channel``: channel names
complete_channels = _completer(lambda c: c.channels, separated=True)
#: ``--expect R1,R2``: receivers of the ``route:`` config
complete_receivers = _completer(_receivers, separated=True)
#: ``oncall NAME``: the ``schedules:`` names
complete_schedules = _completer(lambda c: c.schedules)


def complete_alert_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """``ack KEY``/``resolve KEY``: the keys of the open alerts and of their groups."""
    loaded = _load(ctx)
    if loaded is None:
        return []
    _path, config = loaded
    routing = config.routing
    if routing is None or routing.implicit:
        return []  # an events:-only config keeps no alert state
    from notifykit.ledger import open_ledger
    from notifykit.routing.listing import open_alerts

    with _silent():
        try:
            # The ledger and the routes only (Notifier.alerts() without building the channels,
            # whose clients want the account's secrets).
            if not _ledger_exists(config.store.location, config.base_dir):
                return []
            ledger = open_ledger(config.store.location, base_dir=config.base_dir)
            try:
                snapshot = ledger.routing.snapshot()
            finally:
                ledger.close()
            rows = open_alerts(routing, snapshot, time.time(), routing.resolve_timeout)
        except Exception:
            return []
    return _items({k for row in rows for k in (row.key, row.group)}, incomplete)


def _ledger_exists(location: str, base_dir: Path) -> bool:
    """Whether the ledger ``store:`` names is there already (a SQLite file that exists; a
    PostgreSQL URL is asked)."""
    if location == ":memory:":
        return False
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme.lower() != "sqlite":
            return True
        location = rest[1:] if rest.startswith("/") else rest
    path = Path(location).expanduser()
    return (path if path.is_absolute() else base_dir / path).is_file()
