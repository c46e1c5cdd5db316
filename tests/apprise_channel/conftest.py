"""Fixtures for the Apprise plugin's tests: a local receiver standing in for the services, a
config file with a real SQLite ledger, a hermetic plugin manager with the plugin, and the
environment a ``notifykit`` subprocess needs to find the plugin through its entry point."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import pytest
import yaml

import notifykit_apprise.plugin
from notifykit import Notifier
from notifykit.plugins import get_plugin_manager
from notifykit_apprise.receiver import AppriseReceiver

ROOT = Path(__file__).resolve().parents[2]

#: the token every test URL carries: it must never show in a log, error, report or the ledger
TOKEN = "tk-9f3a1c77e2b54d18a0c6"


@pytest.fixture
def receiver() -> Iterator[AppriseReceiver]:
    with AppriseReceiver() as r:
        yield r


def plugin_manager() -> pluggy.PluginManager:
    """The console channel and the Apprise plugin, nothing installed besides."""
    return get_plugin_manager(load_entrypoints=False, plugins=[notifykit_apprise.plugin])


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url(receiver: AppriseReceiver, name: str) -> str:
    """A json:// URL to the receiver whose path carries :data:`TOKEN`, as a real webhook's does."""
    return receiver.url(f"{name}/{TOKEN}")


def write_config(tmp_path: Path, **sections: Any) -> Path:
    """A config whose ledger is tmp_path/ledger.db: an Apprise account ``ap`` whose targets
    ``alice``, ``bob``, ``ops`` read their URLs from ``$NK_APPRISE_<NAME>``, a channel ``push``,
    recipients with those targets; ``sections`` override or add (``account`` updates the
    account)."""
    account: dict[str, Any] = {
        "provider": "apprise",
        "targets": {
            "alice": {"urls": "${NK_APPRISE_ALICE}"},
            "bob": {"urls": "${NK_APPRISE_BOB}"},
            "ops": {"urls": "${NK_APPRISE_OPS}"},
        },
        "timeout": "2s",
        "throttle": "0s",
    }
    account.update(sections.pop("account", {}))
    config: dict[str, Any] = {
        "store": "ledger.db",
        "accounts": {"ap": account},
        "channels": {"push": {"type": "apprise", "account": "ap"}},
        "recipients": {
            "alice": {"phone": "+919876543210", "addresses": {"apprise": "alice"}},
            "bob": {"addresses": {"apprise": "bob"}},
            "ops-room": {"addresses": {"apprise": "ops"}},
            "dave": {"phone": "+919876543211"},
        },
        "defaults": {"channels": ["push"], "to": ["alice"]},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }
    config.update(sections)
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def urls(monkeypatch: pytest.MonkeyPatch, receiver: AppriseReceiver) -> dict[str, str]:
    """``$NK_APPRISE_ALICE``, ``_BOB``, ``_OPS``: each target's URL at the receiver."""
    values = {name: url(receiver, name) for name in ("alice", "bob", "ops")}
    for name, value in values.items():
        monkeypatch.setenv(f"NK_APPRISE_{name.upper()}", value)
    return values


@pytest.fixture
def make_kit(urls: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Notifier]]:
    built: list[Notifier] = []

    def make(path: Path | None = None, **kwargs: Any) -> Notifier:
        kwargs.setdefault("plugin_manager", plugin_manager())
        kit = Notifier.from_config(path or write_config(tmp_path), **kwargs)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m notifykit`` subprocess: this checkout first on the path,
    and, while the installed distribution predates the plugin (an editable install made before
    the ``apprise`` entry point was added), a distribution on the path that declares it, as
    ``pip install -e .`` would."""
    paths = [str(ROOT), str(ROOT / "plugins")]
    if not any(ep.name == "apprise" for ep in entry_points(group="notifykit")):
        site = tmp_path / "entry-point"
        info = site / "notifykit_apprise_entry-0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: notifykit-apprise-entry\nVersion: 0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            "[notifykit]\napprise = notifykit_apprise.plugin\n", encoding="utf-8"
        )
        paths.append(str(site))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, code: str | None = None):
    """Run ``python -m notifykit ARGS`` (or ``python -c CODE ARGS``) in ``tmp_path``."""
    import subprocess

    command = (
        [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "notifykit", *args]
    )
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=env if env is not None else cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
