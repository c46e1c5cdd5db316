"""Every row of the exit code table, against the simulator's fault injection.

``db.down`` sends one bulk SMS request (alice and bob) and two flow calls. A 400 is a plain
failure (Exotel refused it: nothing went out); a dropped connection after the request is an
unknown outcome (the request may have been processed). Exit 4 must win whenever any delivery is
unknown, so that a script retrying on 2 (or re-sending on 1) never sends twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import notifykit.notifier
from notifykit.cli.common import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNKNOWN,
    EXIT_USAGE,
)
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.cli.support import ROOT, run

REFUSED = Fault(status=400, code=14004, message="CallerId is not a valid ExoPhone")
DROPPED = Fault(drop=True)


def notify_json(config_file: Path) -> tuple[int, dict[str, int]]:
    result = run("-c", str(config_file), "--json", "notify", "db.down", "--data", "host=db1")
    return result.exit_code, json.loads(result.stdout)["counts"]


def test_0_every_delivery_sent(sim: ExotelSimulator, config_file: Path) -> None:
    assert notify_json(config_file) == (EXIT_OK, {"sent": 4})


def test_1_partial_some_sent_the_rest_failed(sim: ExotelSimulator, config_file: Path) -> None:
    sim.inject(Fault(status=400, message="CallerId is not a valid ExoPhone", path="Calls"), times=2)
    result = run("-c", str(config_file), "notify", "db.down", "--data", "host=db1")
    assert result.exit_code == EXIT_PARTIAL == 1
    assert "2 sent" in result.stdout and "2 failed" in result.stdout
    assert "CallerId is not a valid ExoPhone" in result.stdout


@pytest.mark.parametrize(
    "fault",
    [REFUSED, Fault(status=401, message="Authentication failed")],
    ids=["400", "401"],
)
def test_2_all_failed_nothing_went_out(
    sim: ExotelSimulator, config_file: Path, fault: Fault
) -> None:
    sim.inject(fault, times=10)
    assert notify_json(config_file) == (EXIT_FAILED, {"failed": 4})
    assert EXIT_FAILED == 2


def test_3_usage_error_nothing_sent(sim: ExotelSimulator, config_file: Path) -> None:
    result = run("-c", str(config_file), "notify", "db.down", "--to", "nobody")
    assert result.exit_code == EXIT_USAGE == 3
    assert sim.requests == []


def test_4_all_unknown_does_not_share_2_with_failed(
    sim: ExotelSimulator, config_file: Path
) -> None:
    sim.inject(DROPPED, times=10)
    code, counts = notify_json(config_file)
    assert (code, counts) == (EXIT_UNKNOWN, {"unknown": 4})
    assert EXIT_UNKNOWN == 4
    # Every request reached the simulator exactly once: a dropped POST is never resent.
    assert len(sim.requests) == 3


def test_4_unknown_wins_over_failed(sim: ExotelSimulator, config_file: Path) -> None:
    sim.inject(Fault(status=400, message="bad", path="Sms"), times=1)
    sim.inject(Fault(drop=True, path="Calls"), times=2)
    assert notify_json(config_file) == (EXIT_UNKNOWN, {"failed": 2, "unknown": 2})


def test_4_unknown_wins_over_partial(sim: ExotelSimulator, config_file: Path) -> None:
    sim.inject(Fault(drop=True, path="Calls"), times=1)
    code, counts = notify_json(config_file)
    assert (code, counts) == (EXIT_UNKNOWN, {"sent": 3, "unknown": 1})


def test_4_internal_error_may_have_interrupted_a_send(
    sim: ExotelSimulator, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the middle of a send")

    monkeypatch.setattr(notifykit.notifier.Notifier, "notify", broken)
    result = run("-c", str(config_file), "notify", "db.down", "--data", "host=db1")
    assert result.exit_code == EXIT_UNKNOWN
    assert "internal error: RuntimeError: a bug in the middle of a send" in result.stderr
    assert "may have been sent" in result.stderr


def test_the_table_is_in_help_the_docstring_and_the_docs() -> None:
    helped = run("--help")
    assert helped.exit_code == 0
    import notifykit.cli.common as module  # where the codes are defined, with their table

    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert module.__doc__ is not None
    for code, text in EXIT_CODES.items():
        assert f"{code}  {text}" in helped.stdout
        assert f"\n{code}     " in module.__doc__
        assert f"\n| {code} | " in docs
    assert "Do NOT retry blindly" in module.__doc__ and "**Do not retry blindly**" in docs
