"""Fixtures of the doctor tests: a clean environment and a project directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doctor.support import TOKEN


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCTOR_TOKEN", TOKEN)
    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    monkeypatch.delenv("NOTIFYKIT_DISABLE_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
