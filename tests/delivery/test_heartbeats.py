"""Heartbeats (issue 19) in one process, on a controllable clock: a missed heartbeat raises
``heartbeat.missed`` through the pipeline once, however many workers tick, and a beat resolves
it; one never beaten counts from when it was first configured; the states ``notifykit
heartbeats`` shows; the tokens; the config's checks. Sends are checked at the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from notifykit.errors import ConfigError
from notifykit.ledger.heartbeats import MISSED, OK
from tests.delivery.conftest import PHONES, TOKEN, Clock, write_config
from tests.delivery.test_escalation import drain

HOUR = 3600.0
ROUTING: dict[str, Any] = {
    "receivers": {"oncall": {"channels": ["sms"], "to": ["p0"]}},
    "route": {
        "receiver": "oncall",
        "group_by": ["event", "heartbeat"],
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": "4h",
        "send_resolved": True,
    },
}
BEATS = {"backup": {"every": "1h", "grace": "10m", "labels": {"team": "infra"}}}


def bodies(sim: Any) -> list[str]:
    return [b for r in sim.requests if r.path.endswith("/Sms/send.json") for b in r.form["Body"]]


def config(tmp_path: Path, sim: Any, **extra: Any) -> Path:
    sections = {
        **ROUTING,
        "server": {"public_url": "https://alerts.example.com/nk", "webhook_token": "none"},
        "heartbeats": BEATS,
        **extra,
    }
    return write_config(tmp_path, sim, **sections)


def token_of(kit: Any, name: str) -> str:
    url = kit.heartbeat_url(name, with_token=True)
    assert url is not None
    return str(url.rsplit("/", 1)[1])


def test_a_missed_heartbeat_pages_once_and_a_beat_resolves_it(make_kit, sim, tmp_path):
    clock = Clock()
    path = config(tmp_path, sim)
    kit, other = make_kit(path, clock=clock), make_kit(path, clock=clock)
    drain(kit, clock)  # the first tick notes the heartbeat as configured now
    token = token_of(kit, "backup")
    assert kit.heartbeat("backup", token)
    clock.advance(HOUR + 9 * 60)  # late, within grace: nothing
    drain(kit, clock)
    assert bodies(sim) == []
    assert [s.state for s in kit.heartbeats()] == ["late"]

    clock.advance(61)  # past every + grace
    drain(kit, clock)
    drain(other, clock)  # a second worker's tick raises nothing more
    drain(kit, clock)
    beat = kit.heartbeats()[0].to_dict()["last_beat"]
    assert bodies(sim) == [
        "CRITICAL heartbeat.missed: heartbeat=backup every=3600.0 grace=600.0 "
        f"last_beat={beat} since={beat}"
    ]
    sms = [r for r in sim.requests if r.path.endswith("/Sms/send.json")]
    assert sms[0].recipients == [PHONES[0]]
    assert [s.state for s in kit.heartbeats()] == ["missed"]

    clock.advance(30)
    assert other.heartbeat("backup", token)  # back: resolved, sent at the group's next flush
    assert kit.ledger.heartbeats.rows(["backup"])["backup"].state == OK
    clock.advance(60)
    drain(kit, clock)
    assert len(bodies(sim)) == 2 and bodies(sim)[1].startswith("RESOLVED heartbeat.missed")
    assert [s.state for s in kit.heartbeats()] == ["ok"]
    drain(other, clock)
    assert len(bodies(sim)) == 2


def test_raised_once_even_when_a_tick_dies_before_recording_it(make_kit, sim, tmp_path, store):
    """A process that routed the alert and died before marking the heartbeat missed: the next
    tick's claim finds the alert routed, so nobody is paged twice (SQLite and PostgreSQL)."""
    clock = Clock()
    kit = make_kit(config(tmp_path, sim, store=store), clock=clock)
    drain(kit, clock)
    clock.advance(HOUR + 11 * 60)
    drain(kit, clock)
    assert len(bodies(sim)) == 1
    store = kit.ledger.heartbeats
    row = store.rows(["backup"])["backup"]
    # Put the row back as the dead process left it (its alert routed, its state not written).
    assert store.mark("backup", was=MISSED, state=OK, missed_since=None, now=clock())
    drain(kit, clock)
    assert len(bodies(sim)) == 1
    assert store.rows(["backup"])["backup"].state == MISSED
    assert store.rows(["backup"])["backup"].missed_since == row.missed_since


def test_a_heartbeat_never_beaten_counts_from_when_it_was_first_configured(make_kit, sim, tmp_path):
    clock = Clock()
    kit = make_kit(config(tmp_path, sim), clock=clock)
    assert [s.state for s in kit.heartbeats()] == ["never"]
    drain(kit, clock)
    first_seen = kit.ledger.heartbeats.rows()["backup"].first_seen
    assert first_seen == clock()
    clock.advance(HOUR + 10 * 60 - 1)
    drain(kit, clock)
    assert bodies(sim) == []
    clock.advance(1)
    drain(kit, clock)
    assert len(bodies(sim)) == 1
    status = kit.heartbeats()[0].to_dict()
    assert status["state"] == "missed" and status["last_beat"] is None and status["beats"] == 0


def test_tokens_derived_or_configured_and_refused_when_wrong(make_kit, sim, tmp_path, monkeypatch):
    monkeypatch.setenv("HB_TOKEN", "t0ken-from-the-environment")
    beats = {**BEATS, "etl": {"every": "5m", "token": "${HB_TOKEN}"}}
    kit = make_kit(config(tmp_path, sim, heartbeats=beats))
    derived = token_of(kit, "backup")
    assert len(derived) == 24 and derived != token_of(kit, "etl")
    assert token_of(kit, "etl") == "t0ken-from-the-environment"
    assert kit.heartbeat_url("etl") == "https://alerts.example.com/nk/heartbeat/etl/<token>"
    assert not kit.heartbeat("backup", "x" * 24)
    assert not kit.heartbeat("backup", token_of(kit, "etl"))
    assert not kit.heartbeat("nope", derived)
    assert kit.ledger.heartbeats.rows() == {}  # nothing recorded for a refused beat
    assert kit.heartbeat("etl", "t0ken-from-the-environment")
    assert "t0ken-from-the-environment" not in repr(kit.config.heartbeats)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"grace": "1m"}, "heartbeats.x.every"),
        ({"every": "1h", "token": "short"}, "heartbeats.x.token"),
        ({"every": "1h", "severity": "loud"}, "heartbeats.x.severity"),
        ({"every": "1h", "evry": "1h"}, "heartbeats.x"),
    ],
)
def test_config_mistakes_are_named(make_kit, sim, tmp_path, entry, message):
    with pytest.raises(ConfigError) as raised:
        make_kit(config(tmp_path, sim, heartbeats={"x": entry}))
    assert message in str(raised.value)


def test_the_heartbeats_command(make_kit, sim, tmp_path):
    path = config(tmp_path, sim)
    kit = make_kit(path)
    token = token_of(kit, "backup")
    assert kit.heartbeat("backup", token)
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "notifykit", "-c", str(path), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    listed = run("--json", "heartbeats")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "backup" and row["state"] == "ok" and row["beats"] == 1
    assert row["url"] == "https://alerts.example.com/nk/heartbeat/backup/<token>"
    assert token not in listed.stdout + listed.stderr
    shown = run("--json", "heartbeats", "--show-url")
    assert json.loads(shown.stdout)[0]["url"].endswith(f"/heartbeat/backup/{token}")
    text = run("heartbeats")
    assert text.returncode == 0
    assert text.stdout.startswith("backup  ok") and "/heartbeat/backup/<token>" in text.stdout


def test_serve_watches_no_worker_where_server_watch_workers_is_false(make_kit, sim, tmp_path):
    """A deployment that runs no ``notifykit worker`` on purpose turns the watch off: serve
    starts no watch thread (and pages nobody about missing workers); on by default."""
    from notifykit.server.watch import WorkerWatchdog

    server = {"public_url": "https://alerts.example.com/nk", "webhook_token": "none"}
    off = write_config(tmp_path, sim, server={**server, "watch_workers": False})
    with make_kit(off) as kit:
        assert kit.config.server.watch_workers is False
        watchdog = WorkerWatchdog(kit).start()
        assert watchdog._thread is None
        watchdog.stop()
    (tmp_path / "on").mkdir()
    on = write_config(tmp_path / "on", sim, server=server)
    with make_kit(on) as kit:
        watchdog = WorkerWatchdog(kit).start()
        try:
            assert watchdog._thread is not None and watchdog._thread.is_alive()
        finally:
            watchdog.stop()
