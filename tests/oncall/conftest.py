"""The delivery tests' fixtures (a simulator, a config with a real SQLite ledger, a controllable
clock), for the on-call tests that page through them."""

from __future__ import annotations

from tests.delivery.conftest import clock, make_kit, sim, store

__all__ = ["clock", "make_kit", "sim", "store"]
