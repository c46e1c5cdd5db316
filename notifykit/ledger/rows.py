"""Rows read by name: the one way the ledger package reads a query's rows, on every driver.

A query's rows stay the tuples its driver (``sqlite3``, psycopg) fetched; :func:`fetch` gives
them with their :class:`Columns`, which says where each column is, by name::

    rows, c = fetch(db.execute(cursor, "SELECT id, state FROM deliveries"))
    states = {r[c.id]: r[c.state] for r in rows}

So no reader counts positions: a column list can change order, or grow, and every reader still
takes the right value. The :class:`Columns` of a column list is made the first time a query
returns it (from the cursor's ``description``) and kept.

Why positions by name rather than a row object of its own: measured over 10,000 delivery rows
(fetched and read as ``record()`` reads them, with the garbage collector on, as in a real
process), a named tuple per row cost 25-30% more than the driver's tuples (a tuple subclass
stays tracked by the collector, which then runs longer), a dict per row 40%, ``sqlite3.Row``
(whose lookup by name scans the columns) 50%; positions looked up by name cost 0-5%.

A column that is not a plain identifier (an expression, ``COUNT(*)``) is named with ``AS``.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_WithId = TypeVar("_WithId", bound=_HasId)

__all__ = ["Columns", "as_dict", "columns", "fetch", "fetch_one", "find_by_id"]


class Columns:
    """Where each column of one column list is: ``c.state`` is the position of ``state`` in a
    row, so ``row[c.state]`` is its value."""

    def __init__(self, names: tuple[str, ...]) -> None:
        bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n) or n[0] == "_"]
        if bad or len(set(names)) != len(names):
            raise ValueError(
                f"a query's columns {', '.join(map(repr, names))} cannot be read by name: name "
                "each expression and each repeated column with AS (a plain identifier, not "
                "starting with _)"
            )
        self._names = names
        for position, name in enumerate(names):
            setattr(self, name, position)

    if TYPE_CHECKING:
        # For the type checker only: a ``__getattr__`` at run time would make every lookup of a
        # column 3x slower (CPython does not specialise attribute reads on such a class).
        def __getattr__(self, name: str) -> int: ...

    def __repr__(self) -> str:
        return f"Columns({', '.join(self._names)})"


def columns(cursor: Any) -> Columns:
    """The :class:`Columns` of the query ``cursor`` ran (a DB-API cursor, after ``execute``)."""
    return _columns(tuple(column[0] for column in cursor.description))


# The column lists are the queries' own (in the code, not in the data), so the cache stays small.
@lru_cache(maxsize=512)
def _columns(names: tuple[str, ...]) -> Columns:
    return Columns(names)


def fetch(cursor: Any) -> tuple[list[Any], Columns]:
    """The rows ``cursor`` holds (after ``execute``), and where their columns are."""
    return cursor.fetchall(), columns(cursor)


def fetch_one(cursor: Any) -> tuple[Any | None, Columns]:
    """The first row ``cursor`` holds (``None`` when it holds none), and where its columns are."""
    return cursor.fetchone(), columns(cursor)


def as_dict(row: Any, c: Columns) -> dict[str, Any]:
    """``row`` as a mapping of column name to value (for a caller that wants one)."""
    return dict(zip(c._names, row, strict=True))


def find_by_id(
    execute: Any,
    table: str,
    column_list: str,
    given: str,
    build: Callable[[list[Any], Columns], list[_WithId]],
) -> list[_WithId]:
    """The rows of ``table`` (``execute(statement, params)``; read as ``build`` makes them)
    whose ``id`` is ``given`` or starts with it: at least 4 characters, so a person may type
    the start of an id a command printed (a silence's, an override's). An exact match wins."""
    given = given.strip().lower()
    if len(given) < 4 or any(ch in given for ch in "%_\\"):
        return []
    rows, c = fetch(
        execute(f"SELECT {column_list} FROM {table} WHERE id LIKE ? LIMIT 10", (given + "%",))
    )
    found = [x for x in build(rows, c) if x.id.startswith(given)]
    return [x for x in found if x.id == given] or found
