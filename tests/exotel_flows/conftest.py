"""The flow tests reuse the reliable-delivery fixtures: a simulator, a config with a real SQLite
ledger in tmp_path, a Notifier factory, a controllable clock."""

from __future__ import annotations

from tests.delivery.conftest import clock, make_kit, sim

__all__ = ["clock", "make_kit", "sim"]
