"""Names a package exports without importing their modules until first use (PEP 562), so that
``import notifykit`` and a first dry run stay cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from types import ModuleType
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any], exported: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: each name in ``names`` is
    imported from its module on first use and then kept in ``namespace`` (the package's
    ``globals()``), so later lookups skip ``__getattr__``; any other name is tried as a
    submodule (``import notifykit.routing`` then ``notifykit.routing.tree``, as the package's
    eager imports used to allow)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            try:
                return import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(exported)

    return __getattr__, __dir__


class LazyModule:
    """A stand-in for a module, imported on its first attribute lookup: ``parsers =
    lazy_module("pkg.parsers")`` at the top of a module, then ``parsers.parse(...)`` in its
    functions, as with ``from pkg import parsers``."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """A :class:`LazyModule` for ``name`` (typed ``Any``: declare the module's real type under
    ``TYPE_CHECKING``)."""
    return LazyModule(name)
