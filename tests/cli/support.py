"""Helpers shared by the CLI tests: paths, the token the tests use, and an in-process runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from notifykit.cli import cli
from notifykit_exotel.simulator import ExotelSimulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
TOKEN = "cli-token-very-secret"


def run(*args: str) -> Result:
    """``notifykit ARGS`` in-process; fails the test if the token shows up anywhere."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert TOKEN not in result.output
    return result


def sms_posts(sim: ExotelSimulator) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/Sms/send.json")]
