"""The provider accounts' circuit breaker (issue 18, docs/circuit-breaker.md).

The transitions on SQLite and PostgreSQL, on a controllable clock: failures counted in a window,
the circuit opening at the threshold, skipping for the cool-down, exactly one sender taking the
probe, the probe closing or reopening it, a probe whose taker died taken over, the store failing
open to sending. Then end to end in one process, with real HTTP to the Exotel simulator answering
401 or refusing connections: nothing reaches the simulator while the circuit is open, a delivery
without a fallback waits ``pending`` until the cool-down ends, one with a fallback is handed to
it, one probe goes out and its success closes the circuit; ``notifykit circuits``/``workers``
and the metrics show it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.channels.base import DeliveryResult, Recipient
from notifykit.config.delivery import CircuitSettings
from notifykit.delivery.circuit import CircuitBreakers, vote
from notifykit.ledger import open_ledger
from notifykit.ledger.base import Ledger
from notifykit.model import DeliveryState
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, TOKEN, Clock, write_config

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = CircuitSettings(failures=3, window=60.0, cool_down=120.0)
KEY = "exotel:main"
WHO = Recipient("p0", "+919876543210")


def refused() -> DeliveryResult:
    return DeliveryResult.failed(WHO, "[HTTP 401, code 34010] Authentication failed", account=True)


def sent() -> DeliveryResult:
    return DeliveryResult.sent(WHO, provider_id="sid1")


@pytest.fixture
def ledger(store: str, tmp_path: Path) -> Iterator[Ledger]:
    location = store if "://" in store else str(tmp_path / store)
    opened = open_ledger(location)
    yield opened
    opened.close()


@pytest.fixture
def breakers() -> CircuitBreakers:
    return CircuitBreakers(SETTINGS, {"sms": KEY, "call": KEY})


def test_votes() -> None:
    assert vote(sent()) == "up"
    assert vote(refused()) == "down"
    assert vote(DeliveryResult.failed(WHO, "503", transient=True)) == "down"
    assert vote(DeliveryResult.unknown(WHO, "read timeout")) == "down"
    assert vote(DeliveryResult.failed(WHO, "invalid number")) == "up"  # the provider answered
    ours = DeliveryResult.infrastructure_failure(WHO, "redis down", part="rate limiter")
    assert vote(ours) is None
    assert vote(DeliveryResult.not_started(WHO, "SIGTERM")) is None


def test_failures_open_it_one_probe_decides(
    ledger: Ledger, breakers: CircuitBreakers, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "notifykit.circuit")
    t0 = clock()
    assert breakers.allow(ledger, "sms", "w1", t0).action == "send"
    assert breakers.allow(ledger, "console", "w1", t0).key is None  # no provider account
    for _ in range(2):
        breakers.record(ledger, breakers.allow(ledger, "sms", "w1", t0), "w1", [refused()], t0)
    verdict = breakers.allow(ledger, "call", "w2", t0)  # the same account, another channel
    assert (verdict.action, verdict.clean) == ("send", False)
    breakers.record(ledger, verdict, "w2", [refused()], t0 + 1)
    row = ledger.circuits.get(KEY)
    assert row is not None
    assert (row.state, row.failures, row.reopen_at) == ("open", 3, t0 + 1 + 120)
    assert "circuit of account exotel:main OPEN: 3 provider-side failures within 1m" in caplog.text
    assert "Authentication failed" in caplog.text

    skip = breakers.allow(ledger, "sms", "w1", t0 + 60)
    assert (skip.action, skip.until) == ("skip", t0 + 121)
    assert skip.reason is not None
    assert skip.reason.startswith(
        "not sent: circuit open for account exotel:main (3 provider-side failures in 1m; probe at "
    )

    clock.advance(121)
    probe = breakers.allow(ledger, "sms", "w1", clock())
    assert probe.action == "probe"
    other = breakers.allow(ledger, "sms", "w2", clock())  # only one probe: the rest skip
    assert other.action == "skip"
    assert other.until == clock() + 5  # looks again soon: the probe may close it
    assert ledger.circuits.get(KEY).state == "half_open"  # type: ignore[union-attr]

    breakers.record(ledger, probe, "w1", [refused()], clock())  # the probe failed
    row = ledger.circuits.get(KEY)
    assert row is not None
    assert (row.state, row.reopen_at) == ("open", clock() + 120)
    assert "OPEN again: the probe failed" in caplog.text

    clock.advance(120)
    probe = breakers.allow(ledger, "call", "w2", clock())
    assert probe.action == "probe"
    breakers.record(ledger, probe, "w2", [sent()], clock())
    row = ledger.circuits.get(KEY)
    assert row is not None
    assert (row.state, row.failures) == ("closed", 0)
    assert "circuit of account exotel:main closed: the probe went through" in caplog.text
    assert breakers.allow(ledger, "sms", "w1", clock()).action == "send"


def test_the_window_and_what_does_not_count(
    ledger: Ledger, breakers: CircuitBreakers, clock: Clock
) -> None:
    def send(*results: DeliveryResult) -> None:
        breakers.record(ledger, breakers.allow(ledger, "sms", "w", clock()), "w", results, clock())

    send(refused())
    send(refused())
    clock.advance(61)  # the window is over: a new one starts
    send(refused())
    assert ledger.circuits.get(KEY).failures == 1  # type: ignore[union-attr]
    send(DeliveryResult.failed(WHO, "invalid number"))  # the recipient's: neutral
    send(DeliveryResult.infrastructure_failure(WHO, "redis down", part="rate limiter"))
    assert ledger.circuits.get(KEY).failures == 1  # type: ignore[union-attr]
    send(refused(), sent())  # a batch with a sent result: the account works
    assert ledger.circuits.get(KEY).failures == 0  # type: ignore[union-attr]
    send(DeliveryResult.unknown(WHO, "read timeout"))
    send(DeliveryResult.failed(WHO, "connection refused", transient=True))
    send(DeliveryResult.unknown(WHO, "read timeout"))
    assert ledger.circuits.get(KEY).state == "open"  # type: ignore[union-attr]


def test_a_closed_circuit_is_trusted_for_a_second_unless_a_send_fails(
    ledger: Ledger, breakers: CircuitBreakers, clock: Clock
) -> None:
    other = CircuitBreakers(SETTINGS, {"sms": KEY})  # another process on the same ledger
    assert breakers.allow(ledger, "sms", "w1", clock()).action == "send"  # read: closed, clean
    for _ in range(3):
        other.record(ledger, other.allow(ledger, "sms", "w2", clock()), "w2", [refused()], clock())
    assert other.allow(ledger, "sms", "w2", clock()).action == "skip"
    stale = breakers.allow(ledger, "sms", "w1", clock())  # not read again: no read per notify()
    assert stale.action == "send"
    breakers.record(ledger, stale, "w1", [refused()], clock())  # its own failure: read again
    assert breakers.allow(ledger, "sms", "w1", clock()).action == "skip"


def _open(ledger: Ledger, breakers: CircuitBreakers, clock: Clock) -> None:
    """Three refused sends from w1: the circuit opens (SETTINGS: 3 failures)."""
    for _ in range(3):
        breakers.record(
            ledger, breakers.allow(ledger, "sms", "w1", clock()), "w1", [refused()], clock()
        )


def test_a_probe_whose_taker_died_is_taken_over(
    ledger: Ledger, breakers: CircuitBreakers, clock: Clock
) -> None:
    _open(ledger, breakers, clock)
    clock.advance(120)
    assert breakers.allow(ledger, "sms", "dead", clock()).action == "probe"  # and never records
    clock.advance(60)
    assert breakers.allow(ledger, "sms", "w2", clock()).action == "skip"
    clock.advance(61)  # the probe's time (a cool-down) ran out
    probe = breakers.allow(ledger, "sms", "w2", clock())
    assert probe.action == "probe"
    breakers.record(ledger, probe, "dead", [sent()], clock())  # too late: not the dead one's
    assert ledger.circuits.get(KEY).state == "half_open"  # type: ignore[union-attr]
    breakers.record(ledger, probe, "w2", [sent()], clock())
    assert ledger.circuits.get(KEY).state == "closed"  # type: ignore[union-attr]


def test_a_probe_that_decided_nothing_lets_the_next_sender_probe(
    ledger: Ledger, breakers: CircuitBreakers, clock: Clock
) -> None:
    _open(ledger, breakers, clock)
    clock.advance(120)
    probe = breakers.allow(ledger, "sms", "w1", clock())
    breakers.record(ledger, probe, "w1", [DeliveryResult.not_started(WHO, "SIGTERM")], clock())
    assert breakers.allow(ledger, "sms", "w2", clock()).action == "probe"


def test_disabled_breaks_nothing(ledger: Ledger, clock: Clock) -> None:
    off = CircuitBreakers(CircuitSettings(enabled=False, failures=1), {"sms": KEY})
    for _ in range(3):
        verdict = off.allow(ledger, "sms", "w", clock())
        assert verdict.action == "send"
        off.record(ledger, verdict, "w", [refused()], clock())
    assert ledger.circuits.rows() == []


def test_a_ledger_that_fails_means_sending(
    tmp_path: Path, breakers: CircuitBreakers, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    broken = open_ledger(str(tmp_path / "gone.db"))
    broken.close()
    verdict = breakers.allow(broken, "sms", "w", clock())
    assert verdict.action == "send"
    breakers.record(broken, verdict, "w", [refused()], clock())  # logged, not raised
    assert "circuit of account exotel:main could not be read" in caplog.text
    assert "sending as if closed" in caplog.text
    assert "could not be updated" in caplog.text


# -- end to end, one process, real HTTP -----------------------------------------------------------

CIRCUIT = {"failures": 3, "window": "1m", "cool_down": "2m"}


@pytest.fixture
def kit(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> Notifier:
    return make_kit(write_config(tmp_path, sim, circuit=CIRCUIT), clock=clock)


def drain(kit: Notifier, clock: Clock) -> None:
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)


def sms_requests(sim: ExotelSimulator) -> int:
    return len([r for r in sim.requests if r.path.endswith("/Sms/send.json")])


def test_an_open_circuit_sends_nothing_waits_and_one_probe_closes_it(
    kit: Notifier, sim: ExotelSimulator, clock: Clock
) -> None:
    sim.revoke_credentials()
    for n in range(3):
        [delivery] = kit.notify("db.down", data={"n": n}).deliveries
        assert delivery.state is DeliveryState.FAILED
        assert "HTTP 401" in (delivery.error or "")
    assert sms_requests(sim) == 3
    row = kit.ledger.circuits.get("exotel:main")
    assert row is not None and row.state == "open"
    reopen = clock() + 120
    assert row.reopen_at == reopen

    # Open: nothing reaches the simulator; a delivery with no fallback waits for the probe.
    waiting = [kit.notify("db.down", data={"n": n}).deliveries[0] for n in range(3, 6)]
    assert sms_requests(sim) == 3
    for delivery in waiting:
        assert delivery.state is DeliveryState.PENDING
        assert delivery.due == reopen
        assert delivery.attempts == 0  # not stored 'sending' ahead: this process saw it open
        assert (delivery.error or "").startswith(
            "not sent: circuit open for account exotel:main (3 provider-side failures in 1m; "
            "probe at "
        )
    assert kit.ledger.counts().get("sending", 0) == 0  # notify()'s 'sending' ones given back
    drain(kit, clock)  # not due yet: a worker sends nothing either
    assert sms_requests(sim) == 3

    # The cool-down is over: one probe, still refused, opens it again.
    clock.advance(120)
    drain(kit, clock)
    assert sms_requests(sim) == 4
    row = kit.ledger.circuits.get("exotel:main")
    assert row is not None and (row.state, row.reopen_at) == ("open", clock() + 120)
    counts = kit.ledger.counts()
    assert (counts.get("pending"), counts.get("failed")) == (2, 4)  # the probe failed for good

    # The account is fixed: the next probe goes through and closes it; the others follow.
    sim.revoke_credentials(False)
    clock.advance(120)
    drain(kit, clock)
    assert sms_requests(sim) == 6
    assert kit.ledger.circuits.get("exotel:main").state == "closed"  # type: ignore[union-attr]
    assert kit.ledger.counts().get("pending", 0) == 0
    [after] = kit.notify("db.down", data={"n": 9}).deliveries
    assert after.state is DeliveryState.SENT


def test_503s_open_it_and_nothing_reaches_the_simulator_until_the_probe(
    kit: Notifier, sim: ExotelSimulator, clock: Clock
) -> None:
    from notifykit_exotel.simulator import Fault

    sim.inject(Fault(status=503, code=35008), times=3)  # rejected before processing: transient
    for n in range(3):
        [delivery] = kit.notify("db.down", data={"n": n}).deliveries
        assert delivery.state is DeliveryState.FAILED  # notify() sends once
        assert "HTTP 503" in (delivery.error or "")
    assert kit.ledger.circuits.get("exotel:main").state == "open"  # type: ignore[union-attr]
    [held] = kit.notify("db.down", data={"n": 3}).deliveries
    assert held.state is DeliveryState.PENDING
    assert sms_requests(sim) == 3
    clock.advance(120)
    drain(kit, clock)  # the probe: the simulator answers again
    assert sms_requests(sim) == 4
    assert kit.ledger.circuits.get("exotel:main").state == "closed"  # type: ignore[union-attr]
    assert kit.ledger.counts().get("sent") == 1


def test_refused_connections_open_it_and_a_fallback_takes_over(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    path = write_config(
        tmp_path,
        sim,
        circuit=CIRCUIT,
        account={"base_url": f"http://127.0.0.1:{port}"},  # nothing listens: refused
        retry={"initial": "1s", "max": "1s", "deadline": "1h"},
    )
    config = path.read_text(encoding="utf-8").replace(
        "    account: main\n    senders:",
        "    account: main\n    fallback: [console]\n    senders:",
    )
    config = config.replace("channels:\n", "channels:\n  console:\n    type: console\n", 1)
    path.write_text(config, encoding="utf-8")
    kit = make_kit(path, clock=clock)
    for n in range(3):  # refused connections (notify() sends once): counted, and fell over
        delivery, fallback = kit.notify("db.down", data={"n": n}).deliveries
        assert delivery.state is DeliveryState.FAILED
        assert delivery.attempts == 1
        assert "refused" in (delivery.error or "").lower()
        assert (fallback.channel, fallback.state) == ("console", DeliveryState.SENT)
    row = kit.ledger.circuits.get("exotel:main")
    assert row is not None and row.state == "open"
    # A channel with a fallback: failed without a request, handed to its fallback.
    report = kit.notify("db.down", data={"n": 3})
    delivery, fallback = report.deliveries
    assert delivery.state is DeliveryState.FAILED
    assert delivery.attempts == 0
    assert (delivery.error or "").startswith("not sent: circuit open for account exotel:main")
    assert (fallback.channel, fallback.state, fallback.fallback_of) == (
        "console",
        DeliveryState.SENT,
        delivery.id,
    )
    assert report.ok  # the person was reached through the fallback


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join((str(ROOT), str(ROOT / "plugins")))
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": path}
    env.pop("NOTIFYKIT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_circuits_and_workers_show_it_and_the_metrics_say_its_state(
    kit: Notifier, sim: ExotelSimulator, tmp_path: Path
) -> None:
    config = tmp_path / "notifykit.yaml"
    closed = _cli(config, "circuits")
    assert closed.returncode == 0, closed.stderr
    assert "every circuit is closed" in closed.stdout
    sim.revoke_credentials()
    for n in range(3):
        kit.notify("db.down", data={"n": n})
    shown = _cli(config, "circuits")
    assert shown.returncode == 1, shown.stderr  # one is not closed
    assert "exotel:main  open  3 failures" in shown.stdout
    assert "Authentication failed" in shown.stdout
    assert TOKEN not in shown.stdout + shown.stderr
    [row] = json.loads(_cli(config, "--json", "circuits").stdout)
    assert (row["key"], row["state"], row["failures"]) == ("exotel:main", "open", 3)
    stored = kit.ledger.circuits.get("exotel:main")
    assert stored is not None and stored.reopen_at is not None
    assert datetime.fromisoformat(row["reopen_at"]).timestamp() == stored.reopen_at
    workers = _cli(config, "workers")
    assert "circuit exotel:main  open  3 failures" in workers.stdout
    alerts = _cli(config, "alerts")
    assert alerts.returncode == 0, alerts.stderr
    assert "warning: the circuit of account exotel:main is open" in alerts.stderr

    from prometheus_client import generate_latest

    text = generate_latest(kit.metrics.start()).decode()
    assert 'notifykit_circuit_state{account="main",provider="exotel",state="open"} 1.0' in text
    assert 'notifykit_circuit_state{account="main",provider="exotel",state="closed"} 0.0' in text


def test_circuit_settings_are_checked(
    make_kit: Callable[..., Notifier], sim: Any, tmp_path: Path
) -> None:
    from notifykit.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_kit(write_config(tmp_path, sim, circuit={"failures": 0, "cool_down": "soon"}))
    text = str(caught.value)
    assert "circuit.failures" in text and "circuit.cool_down" in text
    kit = make_kit(write_config(tmp_path, sim, circuit={"failures": 2, "window": "30s"}))
    assert (kit.config.circuit.failures, kit.config.circuit.window) == (2, 30.0)
    assert kit.config.circuit.cool_down == 120.0
    assert PHONES  # the shared recipients


def test_the_other_providers_refusals_of_the_account_count() -> None:
    from notifykit.channels.base import DeliveryResult
    from notifykit_msg91.client import Msg91Error
    from notifykit_twilio.client import AuthError, TwilioError

    msg91_result = twilio_result = DeliveryResult.from_error

    refused_twilio = twilio_result(WHO, AuthError("authentication failed", http_status=401))
    assert refused_twilio.account and vote(refused_twilio) == "down"
    assert not twilio_result(WHO, TwilioError("bad request", http_status=400)).account
    accounts = [c for c in Msg91Error.__subclasses__() if c.cause == "account"]
    assert accounts
    refused_msg91 = msg91_result(WHO, accounts[0]("authkey invalid", http_status=401))
    assert refused_msg91.account and vote(refused_msg91) == "down"
