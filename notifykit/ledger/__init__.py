"""The ledger: the durable record of every notification, delivery, attempt and status event.

:func:`open_ledger` opens the store a config names: a path (a SQLite file, relative to the config
file), ``:memory:``, a ``sqlite:///`` URL or a ``postgresql://`` (``postgres://``) URL. The
interface is :class:`~notifykit.ledger.base.Ledger`; SQL backends share
:class:`~notifykit.ledger.base.SqlLedger`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifykit._lazy import lazy_exports
from notifykit.errors import LedgerError

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.outcome import Change, Outcome

# Imported on first use (PEP 562): the dispatcher imports notifykit.ledger.outcome, which runs
# this file, and a process that never opens a ledger does not import the SQL ledger.
_LAZY = {
    "Change": "notifykit.ledger.outcome",
    "Ledger": "notifykit.ledger.base",
    "Outcome": "notifykit.ledger.outcome",
}

__all__ = ["Change", "Ledger", "LedgerError", "Outcome", "open_ledger"]


def open_ledger(location: str, *, base_dir: Path | None = None, **options: Any) -> Ledger:
    """Open (creating and migrating if needed) the ledger at ``location``.

    ``location`` is ``":memory:"``, a ``sqlite:///path`` URL, a ``postgresql://`` or
    ``postgres://`` URL (needs ``pip install 'notifykit-pager[postgres]'``), or a plain path
    (relative to ``base_dir``, the config file's directory). ``options`` are the backend's keyword
    arguments (``synchronous``, ``busy_timeout``; PostgreSQL also ``pool_size``).
    """
    from notifykit.ledger.sqlite import SqliteLedger

    if location == ":memory:":
        return SqliteLedger(location, **options)
    if "://" in location:
        scheme, _, rest = location.partition("://")
        if scheme.lower() in ("postgresql", "postgres"):
            from notifykit.ledger.postgres import PostgresLedger

            return PostgresLedger(location, **options)
        if scheme != "sqlite":
            raise LedgerError(
                f"store: {scheme}:// is not a ledger this notifykit can open; use a file path, "
                "sqlite:///path or postgresql://user@host/dbname"
            )
        location = rest[1:] if rest.startswith("/") else rest
        location = location or ":memory:"
    path = Path(location).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return SqliteLedger(path, **options)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
