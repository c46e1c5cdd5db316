"""The pipeline's tests use the delivery tests' fixtures: a simulator, a config with a real SQLite
ledger in tmp_path, and a controllable clock."""

from tests.delivery.conftest import clock, make_kit, sim, store

__all__ = ["clock", "make_kit", "sim", "store"]
