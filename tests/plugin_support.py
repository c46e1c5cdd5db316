"""What the tests of the channel plugins loaded through their entry points share (tests/msg91,
tests/twilio_channel, tests/webhook): the ``notifykit`` entry points pyproject declares, put
first on the path as an install would register them (``site``), every plugin loaded through them
(``pm``), a Notifier factory over that plugin manager that closes what it built (``make_kit``,
after setting the environment the plugin's conftest names in its ``kit_env`` fixture), and the
suite's controllable clock (``Clock`` and ``clock``, tests/delivery/conftest.py's).

A conftest imports the fixtures it uses and names them in ``__all__`` (pytest registers a
fixture imported into a conftest)::

    from tests.plugin_support import Clock, clock, make_kit, pm, site

    __all__ = ["Clock", "clock", "make_kit", "pm", "site"]


    @pytest.fixture
    def kit_env() -> dict[str, str]:
        return {"NK_MSG91_AUTHKEY": AUTHKEY}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import tomllib

from notifykit import Notifier
from notifykit.plugins import get_plugin_manager
from tests.delivery.conftest import Clock, clock

__all__ = ["ROOT", "Clock", "clock", "entry_points_site", "make_kit", "pm", "site"]

ROOT = Path(__file__).resolve().parents[1]


def entry_points_site(where: Path) -> Path:
    """A directory with the ``notifykit-pager`` distribution's metadata as pyproject declares it
    (its ``notifykit`` entry points), for importlib.metadata to find first on the path: the
    plugins are then loaded exactly as installed ones are, even where the checkout was installed
    before an entry point existed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    points = project["project"]["entry-points"]["notifykit"]
    site = where / "site"
    dist = site / "notifykit_pager-0.1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: notifykit-pager\nVersion: 0.1.0\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in points.items())
    (dist / "entry_points.txt").write_text(f"[notifykit]\n{lines}", encoding="utf-8")
    return site


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The entry points on ``sys.path`` (and on ``PYTHONPATH`` for subprocesses)."""
    found = entry_points_site(tmp_path)
    monkeypatch.syspath_prepend(str(found))
    path = [str(found), str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    return found


@pytest.fixture
def pm(site: Path) -> pluggy.PluginManager:
    """Every installed plugin, loaded through the entry points (the one under test included)."""
    return get_plugin_manager(disabled=[])


@pytest.fixture
def make_kit(
    monkeypatch: pytest.MonkeyPatch, pm: pluggy.PluginManager, kit_env: dict[str, str]
) -> Iterator[Callable[..., Notifier]]:
    """``make(path, **kwargs)``: a Notifier from the config at ``path`` with ``pm``, the
    environment of ``kit_env`` set (the secrets its config reads); each is closed at the end."""
    for name, value in kit_env.items():
        monkeypatch.setenv(name, value)
    built: list[Notifier] = []

    def make(path: Path, **kwargs: Any) -> Notifier:
        kit = Notifier.from_config(path, plugin_manager=pm, **kwargs)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()
