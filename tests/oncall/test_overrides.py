"""On-call overrides made at run time (``notifykit override add|list|cancel``,
``Notifier.override``): stored in the ledger with their rows of the audit trail, they win over
the schedule's layers and configured overrides while they last, pages to ``schedule:NAME`` reach
whoever they name (real HTTP to the simulator, on SQLite and PostgreSQL), ``notifykit oncall``
shows them, and cancelling one gives the schedule back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.errors import RecipientError
from notifykit.ledger.audit import OVERRIDDEN, OVERRIDE_CANCELLED
from notifykit.oncall.overrides import OverrideError
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, TOKEN, Clock, write_config

ROOT = Path(__file__).resolve().parents[2]

#: the clock starts at 2027-01-15 13:30 IST; primary has p0 on call all day, every day
START = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc).timestamp()
SECTIONS: dict[str, Any] = {
    "schedules": {
        "primary": {
            "layers": [{"rotation": "daily", "start": "2027-01-01T00:00", "members": ["p0"]}],
            "overrides": [{"who": "p2", "from": "2027-01-15T14:00", "to": "2027-01-15T15:00"}],
        }
    },
    "receivers": {"page": {"channels": ["sms"], "to": ["schedule:primary"]}},
    "route": {"receiver": "page", "group_wait": "0s", "repeat_interval": "0s"},
}


@pytest.fixture
def config(tmp_path: Path, sim: ExotelSimulator, store: str) -> Path:
    return write_config(tmp_path, sim, store=store, **SECTIONS)


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], config: Path) -> Notifier:
    return make_kit(config, clock=Clock(START))


def _at(seconds: float) -> datetime:
    """``seconds`` after the start, as an aware datetime."""
    return datetime.fromtimestamp(START + seconds, timezone.utc)


def sms_to(sim: ExotelSimulator) -> list[str]:
    return [n for r in sim.requests if r.path.endswith("/Sms/send.json") for n in r.recipients]


def test_an_override_puts_someone_on_call_pages_reach_them_and_cancelling_gives_it_back(
    kit: Notifier, sim: ExotelSimulator
) -> None:
    assert kit.oncall("primary").who == "p0"
    made = kit.override("primary", "p1", duration="8h", comment="swap with p0", by="asha")
    answer = kit.oncall("primary")
    assert (answer.who, answer.override, answer.layer) == ("p1", True, None)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sms_to(sim) == [PHONES[1]]
    # A configured override later in the day still loses to it: the run-time one is later.
    assert kit.oncall("primary", at=_at(45 * 60)).who == "p1"
    assert [o.id for o in kit.overrides("primary")] == [made.id]

    ended = kit.cancel_override(made.id[:8], by="asha")
    assert ended.cancelled_by == "asha" and ended.ends_at == START
    assert kit.oncall("primary").who == "p0"
    assert kit.oncall("primary", at=_at(45 * 60)).who == "p2"  # the configured one again
    assert kit.overrides("primary") == []
    assert [o.id for o in kit.overrides(include_ended=True)] == [made.id]
    kit.notify("db.down", severity="critical", labels={"host": "db2"})
    assert sms_to(sim) == [PHONES[1], PHONES[0]]

    trail = [(r.action, r.actor, r.target.get("who")) for r in kit.audit(limit=10)]
    assert (OVERRIDDEN, "asha", "p1") in trail
    assert (OVERRIDE_CANCELLED, "asha", "p1") in trail


def test_an_override_still_to_come_starts_on_time(kit: Notifier) -> None:
    kit.override(
        "primary", "p1", starts_at=START + 3600, ends_at=START + 7200, comment="evening cover"
    )
    assert kit.oncall("primary").who == "p0"
    assert kit.oncall("primary", at=_at(3600)).who == "p1"
    assert kit.oncall("primary", at=_at(7200)).who == "p0"
    shifts = kit.shifts("primary", _at(0), _at(3 * 3600))
    # the configured override (p2, 14:00-15:00) until the later, run-time one takes over
    assert [s.who for s in shifts] == ["p0", "p2", "p1", "p0"]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda k: k.override("primry", "p1", duration="1h", comment="x"), RecipientError,
         "no schedule named 'primry' (did you mean 'primary'?)"),
        (lambda k: k.override("primary", "p9", duration="1h", comment="x"), RecipientError,
         "'p9' is not a recipient"),
        (lambda k: k.override("primary", "p1", duration="1h", comment=" "), OverrideError,
         "an override needs a comment"),
        (lambda k: k.override("primary", "p1", comment="x"), OverrideError,
         "either duration= (2h) or ends_at="),
        (lambda k: k.override("primary", "p1", ends_at=START - 1, comment="x"), OverrideError,
         "end after it starts"),
        (lambda k: k.cancel_override("nope-nope", by="x"), OverrideError,
         "no on-call override has the id 'nope-nope'"),
    ],
)  # fmt: skip
def test_mistakes_are_named_with_the_fix(
    kit: Notifier, call: Callable[[Notifier], Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as raised:
        call(kit)
    assert words in str(raised.value)
    assert kit.overrides(include_ended=True) == []


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "USER": "ops-laptop"}
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_commands_as_a_person_uses_them(config: Path) -> None:
    added = _cli(config, "--json", "override", "add", "primary", "p1", "--for", "8h",
                 "--comment", "swap", "--by", "asha")  # fmt: skip
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert (made["schedule"], made["who"], made["state"]) == ("primary", "p1", "active")

    now = json.loads(_cli(config, "--json", "oncall", "primary").stdout)
    assert (now["who"], now["override"]) == ("p1", True)
    listed = _cli(config, "override", "list")
    assert (
        listed.returncode == 0 and made["id"] in listed.stdout and "by asha: swap" in listed.stdout
    )

    cancelled = _cli(config, "override", "cancel", made["id"][:8])
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"cancelled {made['id']}"
    assert json.loads(_cli(config, "--json", "oncall", "primary").stdout)["override"] is False
    assert _cli(config, "override", "list").stdout.strip() == "no overrides"
    trail = json.loads(_cli(config, "--json", "audit").stdout)
    assert [r["action"] for r in trail][-2:] == ["overridden", "override-cancelled"]
    assert trail[-1]["actor"] == "ops-laptop"  # --by not given: the OS user name

    wrong = _cli(config, "override", "add", "primary", "p9", "--for", "1h", "--comment", "x")
    assert wrong.returncode == 3  # a usage mistake
    assert "'p9' is not a recipient" in wrong.stderr
    both = _cli(config, "override", "add", "primary", "p1", "--comment", "x")
    assert both.returncode == 3 and "give either --for DURATION (8h) or --to TIME" in both.stderr
