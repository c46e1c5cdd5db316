"""Fixtures for the webhook plugin's tests: the plugin loaded through its entry point (the one
pyproject declares, as an install would register it), a fake receiver, a config file with a real
SQLite ledger, and a controllable clock."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import tomllib
import yaml

from notifykit import Notifier
from notifykit.plugins import get_plugin_manager
from notifykit_webhook.fake import FakeReceiver

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-t3st-s3cr3t-value"
AUTH = "Bearer h34d3r-t0k3n-value"


def entry_points_site(where: Path) -> Path:
    """A directory with the ``notifykit-pager`` distribution's metadata as pyproject declares it
    (its ``notifykit`` entry points), for importlib.metadata to find first on the path: the
    plugin is then loaded exactly as an installed one is, even where the checkout was installed
    before the entry point existed."""
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
    """Every installed plugin, loaded through the entry points (the webhook plugin's included)."""
    return get_plugin_manager(disabled=[])


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver(secret=SECRET) as fake:
        yield fake


class Clock:
    """A controllable clock (epoch seconds), moved only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def write_config(tmp_path: Path, url: str, **sections: Any) -> Path:
    """A config with a ``hook`` webhook channel posting to ``url`` (``channel`` keys override),
    recipients with webhook addresses, and a ledger in tmp_path/ledger.db."""
    channel: dict[str, Any] = {
        "type": "webhook",
        "url": url,
        "secret": "${NK_WEBHOOK_SECRET}",
        "headers": {"Authorization": "${NK_WEBHOOK_AUTH}"},
        "timeout": "1s",
    }
    for key, value in sections.pop("channel", {}).items():
        if value is None:  # left out
            channel.pop(key, None)
        else:
            channel[key] = value
    config: dict[str, Any] = {
        "store": "ledger.db",
        "channels": {"hook": channel},
        "recipients": {
            "ops": {"addresses": {"webhook": "#ops"}},
            "alice": {"phone": "+919876543210", "addresses": {"webhook": "alice"}},
            "bob": {"phone": "+919876543211"},
        },
        "defaults": {"channels": ["hook"], "to": ["ops"], "template": "default"},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }
    config.update(sections)
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def make_kit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pm: pluggy.PluginManager
) -> Iterator[Callable[..., Notifier]]:
    monkeypatch.setenv("NK_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("NK_WEBHOOK_AUTH", AUTH)
    built: list[Notifier] = []

    def make(path: Path, **kwargs: Any) -> Notifier:
        kit = Notifier.from_config(path, plugin_manager=pm, **kwargs)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()
