"""Fixtures for the MSG91 plugin's tests: the plugin loaded through its entry point (the one
pyproject declares, as an install would register it), the plugin's fake MSG91 on 127.0.0.1, and
a config file with a real SQLite ledger and a DLT-registered template."""

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
from notifykit_msg91.fake import FakeMsg91

ROOT = Path(__file__).resolve().parents[2]
AUTHKEY = "m91-4uthk3y-s3cr3t-value"
TEMPLATE_ID = "1207161234567890123"
ENTITY_ID = "1201159876543210987"
PATTERN = "ALERT {#var#}: database {#var#} is down. -ACME Ops"
TEMPLATE = "ALERT {{ severity | upper }}: database {{ data.host }} is down. -ACME Ops"


def entry_points_site(where: Path) -> Path:
    """A directory with the ``notifykit-pager`` distribution's metadata as pyproject declares it
    (its ``notifykit`` entry points), first on the path: the plugin is then loaded exactly as an
    installed one is, even where the checkout was installed before the entry point existed."""
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
    """Every installed plugin, loaded through the entry points (the MSG91 plugin's included)."""
    return get_plugin_manager(disabled=[])


@pytest.fixture
def fake() -> Iterator[FakeMsg91]:
    with FakeMsg91(authkey=AUTHKEY, templates={TEMPLATE_ID: PATTERN}) as server:
        yield server


def write_config(tmp_path: Path, base_url: str, **sections: Any) -> Path:
    """A config with an ``m91`` MSG91 account at ``base_url`` (``account`` keys override; a
    ``None`` leaves a key out), an ``sms`` channel, the ``db_down`` template registered on DLT
    (``template`` keys override), two recipients and a ledger in tmp_path/ledger.db."""
    account: dict[str, Any] = {
        "provider": "msg91",
        "authkey": "${NK_MSG91_AUTHKEY}",
        "sender": "NKALRT",
        "dlt_entity_id": ENTITY_ID,
        "base_url": base_url,
        "timeout": "1s",
    }
    template: dict[str, Any] = {"dlt_template_id": TEMPLATE_ID, "dlt_pattern": PATTERN}
    for target, key in ((account, "account"), (template, "template")):
        for name, value in sections.pop(key, {}).items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "db_down.sms.j2").write_text(sections.pop("text", TEMPLATE), encoding="utf-8")
    config: dict[str, Any] = {
        "store": "ledger.db",
        "accounts": {"m91": account},
        "channels": {"sms": {"type": "msg91-sms", "account": "m91"}},
        "recipients": {"alice": {"phone": "+919876543210"}, "bob": {"phone": "+919876543211"}},
        "templates": {"directory": "templates", "db_down": template},
        "events": {"db.down": {"template": "db_down", "severity": "critical"}},
        "defaults": {"channels": ["sms"], "to": ["alice"], "template": "db_down"},
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
    monkeypatch.setenv("NK_MSG91_AUTHKEY", AUTHKEY)
    built: list[Notifier] = []

    def make(path: Path, **kwargs: Any) -> Notifier:
        kit = Notifier.from_config(path, plugin_manager=pm, **kwargs)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()


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
