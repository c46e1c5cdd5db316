"""Names a package exports without importing their modules until first use (PEP 562), so that
``import notifykit`` and a first dry run stay cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
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
