"""Fixtures of the CLI tests: a simulator, the example config pointed at it, a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from notifykit_exotel.simulator import ExotelSimulator
from tests.cli.support import EXAMPLE, ROOT, TOKEN


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid="ACcli", token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def config_file(sim: ExotelSimulator, tmp_path: Path) -> Path:
    """The example config, pointed at a running simulator with secrets from the environment."""
    data = yaml.safe_load(EXAMPLE.read_text())
    account = data["accounts"]["exotel-main"]
    account["base_url"] = sim.base_url
    account["api_key"] = "${NK_CLI_KEY:-}"
    data["templates"]["directory"] = str(ROOT / "templates")
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXOTEL_SID", "ACcli")
    monkeypatch.setenv("EXOTEL_TOKEN", TOKEN)
    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    monkeypatch.delenv("NOTIFYKIT_DISABLE_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
