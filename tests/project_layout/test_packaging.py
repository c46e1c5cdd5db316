"""The wheel holds every package of the source tree: pyproject's explicit ``packages`` list names
each directory with an ``__init__.py`` under ``notifykit/`` and ``plugins/``, and nothing else (a
subpackage left off the list would be silently missing from an installed notifykit)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _source_packages() -> set[str]:
    found = set()
    for base, prefix in ((ROOT, ROOT / "notifykit"), (ROOT / "plugins", ROOT / "plugins")):
        for init in prefix.rglob("__init__.py"):
            package = init.parent
            if "__pycache__" in package.parts or package == base:
                continue
            found.add(".".join(package.relative_to(base).parts))
    return found


def test_every_package_of_the_source_tree_is_in_the_wheel() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = settings["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    source = _source_packages()
    assert not source - listed, f"add to [tool.setuptools] packages: {sorted(source - listed)}"
    assert not listed - source, f"no such package: {sorted(listed - source)}"
    # a plugin's top-level package is found where it lives
    for package in listed:
        top = package.split(".")[0]
        if top != "notifykit":
            assert top in setuptools["package-dir"], f"[tool.setuptools.package-dir] {top}"
