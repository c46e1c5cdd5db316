"""The installed distributions' entry points and versions, read from their ``.dist-info`` and
``.egg-info`` directories without :mod:`importlib.metadata`: importing it (with the ``email``
package it reads ``METADATA`` with) costs a first dry run about 60M instructions, more than
reading the few files it needs.

Each function finds what :mod:`importlib.metadata` would find, in its order (the directories on
``sys.path`` in turn, and in each the distributions grouped by name in the order they are
listed), and returns ``None`` where it cannot be sure to: a ``sys.path`` entry that is a zip
file, or a finder on ``sys.meta_path`` other than the path finder that finds distributions.
The caller then asks :mod:`importlib.metadata`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from importlib.machinery import PathFinder
from typing import Any, NamedTuple

__all__ = ["EntryPoint", "LazyDistribution", "entry_points", "version"]

_SEPARATORS = re.compile(r"[-_.]+")


class EntryPoint(NamedTuple):
    """An entry point as ``entry_points.txt`` declares it, and the directory it came from."""

    name: str
    value: str
    dist_path: str


def _normalize(name: str) -> str:
    # importlib.metadata's Prepared.normalize: PEP 503, and dashes as underscores
    return _SEPARATORS.sub("-", name).lower().replace("-", "_")


def _metadata_dirs() -> Iterator[tuple[str, str]] | None:
    """``(normalized name, directory)`` of every distribution, as
    ``importlib.metadata.distributions()`` lists them; ``None`` where this reader cannot
    follow it."""
    for finder in sys.meta_path:
        if finder is not PathFinder and hasattr(finder, "find_distributions"):
            return None
    found: list[tuple[str, str]] = []
    for root in sys.path:
        if not isinstance(root, str):
            return None
        try:
            children = os.listdir(root or ".")
        except NotADirectoryError:
            return None  # a zip file: importlib.metadata reads its members
        except OSError:
            continue
        base = os.path.basename(root).lower()
        infos: dict[str, list[str]] = {}
        eggs: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = _normalize(low.rpartition(".")[0].partition("-")[0])
                infos.setdefault(name, []).append(os.path.join(root, child))
            elif base.endswith(".egg") and low == "egg-info":
                name = base.rpartition(".")[0].partition("-")[0].replace("-", "_")
                eggs.setdefault(name, []).append(os.path.join(root, "EGG-INFO"))
        for group in (infos, eggs):
            found.extend((name, path) for name, paths in group.items() for path in paths)
    return iter(found)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def entry_points(group: str) -> list[EntryPoint] | None:
    """The entry points of ``group`` of every installed distribution, in the order
    ``importlib.metadata.distributions()`` lists them (``entry_points.txt`` read as it reads
    it); ``None``: ask :mod:`importlib.metadata`."""
    dirs = _metadata_dirs()
    if dirs is None:
        return None
    found: list[EntryPoint] = []
    marker = f"[{group}]"
    for _name, path in dirs:
        text = _read(os.path.join(path, "entry_points.txt"))
        if not text or marker not in text:
            continue
        section = None
        for line in map(str.strip, text.splitlines()):
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line.strip("[]")
            elif section == group:
                name, _, value = (part.strip() for part in line.partition("="))
                found.append(EntryPoint(name, value, path))
    return found


def version(distribution: str) -> str | None:
    """The version of the first installed distribution named ``distribution`` (its
    ``METADATA``'s ``Version:`` header, ``PKG-INFO``'s for an egg), as
    ``importlib.metadata.version`` reads it; ``None`` if none is found or this reader cannot
    tell: ask :mod:`importlib.metadata`."""
    dirs = _metadata_dirs()
    if dirs is None:
        return None
    wanted = _normalize(distribution)
    for name, path in dirs:
        if name != wanted:
            continue
        text = _read(os.path.join(path, "METADATA"))
        if text is None:
            text = _read(os.path.join(path, "PKG-INFO"))
        for line in (text or "").split("\n\n", 1)[0].splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "version":
                return value.strip()
        return None
    return None


class LazyDistribution:
    """The ``importlib.metadata`` distribution in ``path``, made on first use (``notifykit
    plugins`` reads its name and version; a dry run never does)."""

    __slots__ = ("_dist", "_path")

    def __init__(self, path: str) -> None:
        self._path = path
        self._dist: Any = None

    def __getattr__(self, attr: str) -> Any:
        dist = self._dist
        if dist is None:
            from importlib.metadata import Distribution

            dist = self._dist = Distribution.at(self._path)
        return getattr(dist, attr)

    def __repr__(self) -> str:
        return f"<distribution at {self._path!r}>"
