"""The circuit breaker across ``notifykit worker`` *processes* on one ledger (a SQLite file, and
PostgreSQL), against a real Exotel simulator in this process answering 401 (its credentials
revoked): the circuit one worker opened is skipped by another that never saw a failure; once the
cool-down is over, with both workers running, exactly one probe request reaches the simulator per
cool-down; a failed probe opens it again, a successful one closes it, and what waited goes out,
each number once.

Real time (the workers are other processes): the cool-down is 5 s, the workers poll every 0.2 s,
and every wait is on a condition with a deadline (requests at the simulator, rows in the ledger).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.model import DeliveryState
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import TOKEN, wait_until, write_config
from tests.delivery.test_workers_processes import Workers

WORKER = {"lease": "5s", "poll": "0.2s", "threads": 2, "batch": 1}
CIRCUIT = {"failures": 2, "window": "1m", "cool_down": "5s"}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Path], Workers]]:
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        made.append(Workers(config, tmp_path, flags=("-v",)))
        return made[-1]

    yield make
    for group in made:
        group.close()


def number(n: int) -> str:
    return f"+9198765{n:05d}"


def sms(sim: ExotelSimulator) -> int:
    return len([r for r in sim.requests if r.path.endswith("/Sms/send.json")])


def by_number(kit: Notifier) -> dict[str, tuple[DeliveryState, str]]:
    return {
        d.address or "": (d.state, d.error or "")
        for report in kit.history(limit=0)
        for d in report.deliveries
    }


def held(kit: Notifier, numbers: list[str]) -> bool:
    found = by_number(kit)
    return all(
        n in found
        and found[n][0] is DeliveryState.PENDING
        and found[n][1].startswith("not sent: circuit open for account exotel:main")
        for n in numbers
    )


def live(kit: Notifier, *nodes: str) -> bool:
    seen = {w["name"] for w in kit.ledger.workers(time.time(), 10.0)}
    return set(nodes) <= seen


def test_two_workers_share_the_circuit_and_send_one_probe(
    store: str,
    make_kit: Callable[..., Notifier],
    sim: ExotelSimulator,
    tmp_path: Path,
    workers: Callable[[Path], Workers],
) -> None:
    config = write_config(tmp_path, sim, store=store, worker=WORKER, circuit=CIRCUIT)
    kit = make_kit(config)
    group = workers(config)
    sim.revoke_credentials()  # every request: 401, a refusal of the account

    # Worker a opens the circuit: two sends refused.
    group.start("a")
    wait_until(lambda: live(kit, "a"), timeout=30)
    for n in range(2):
        kit.submit("db.down", data={"n": n}, to=number(n))
    wait_until(lambda: sms(sim) == 2, timeout=30)
    wait_until(lambda: getattr(kit.ledger.circuits.get("exotel:main"), "state", None) == "open")
    # (a log line is written just after the ledger changes: waited for too)
    wait_until(lambda: "OPEN: 2 provider-side failures within 1m" in group.stderr("a"))

    # Worker b, which never saw a failure, skips: nothing reaches the simulator.
    group.start("b")
    wait_until(lambda: live(kit, "b"), timeout=30)
    group.stop("a", codes=(0, 1, 2))
    waiting = [number(n) for n in range(2, 4)]
    for n in range(2, 4):
        kit.submit("db.down", data={"n": n}, to=number(n))
    wait_until(lambda: held(kit, waiting), timeout=10)
    assert sms(sim) == 2
    wait_until(lambda: "not sent: circuit open for account exotel:main" in group.stderr("b"))
    row = kit.ledger.circuits.get("exotel:main")
    assert row is not None and row.state == "open" and row.reopen_at is not None
    found = {d.address: d for r in kit.history(limit=0) for d in r.deliveries}
    assert {found[n].due for n in waiting} == {row.reopen_at}  # they wait for the probe

    # a again, beside b; more deliveries wait. The cool-down ends: both workers look, and
    # exactly one probe request goes out; still refused, it opens the circuit again.
    group.start("a2")
    wait_until(lambda: live(kit, "a2", "b"), timeout=30)
    for n in range(4, 8):
        kit.submit("db.down", data={"n": n}, to=number(n))
    waiting += [number(n) for n in range(4, 8)]
    wait_until(lambda: held(kit, waiting[2:]), timeout=10)
    assert sms(sim) == 2
    first = row.reopen_at
    wait_until(lambda: sms(sim) == 3, timeout=first - time.time() + 10)
    wait_until(
        lambda: (
            (r := kit.ledger.circuits.get("exotel:main")) is not None
            and r.state == "open"
            and (r.reopen_at or 0) > first
        ),
        timeout=10,
    )
    row = kit.ledger.circuits.get("exotel:main")
    assert row is not None and row.reopen_at is not None
    wait_until(lambda: "OPEN again: the probe failed" in group.stderr("a2") + group.stderr("b"))
    # Until the next cool-down ends, both go on skipping: no other request.
    wait_until(lambda: time.time() > (row.reopen_at or 0) - 0.5, timeout=10)
    assert sms(sim) == 3
    probes = sum(1 for n in waiting if sim.requests_to(n))
    assert probes == 1

    # The account is fixed: the next probe goes through and closes the circuit; the rest
    # follow, each number exactly once.
    sim.revoke_credentials(False)
    wait_until(
        lambda: not any(kit.ledger.counts().get(s) for s in ("pending", "sending")), timeout=30
    )
    assert getattr(kit.ledger.circuits.get("exotel:main"), "state", None) == "closed"
    states = by_number(kit)
    sent_to = {n: len(sim.requests_to(n)) for n in waiting}
    assert set(sent_to.values()) == {1}, (sent_to, states)  # each number once
    refused = [n for n in waiting if states[n][0] is DeliveryState.FAILED]
    assert len(refused) == 1 and "HTTP 401" in states[refused[0]][1]  # the refused probe
    assert all(states[n][0] is DeliveryState.SENT for n in waiting if n not in refused)
    wait_until(
        lambda: (
            "circuit of account exotel:main closed: the probe went through"
            in group.stderr("a2") + group.stderr("b")
        )
    )
    closed = group.stderr("a2") + group.stderr("b")
    assert TOKEN not in closed + group.stderr("a")
    group.stop("a2", codes=(0, 1, 2))
    group.stop("b", codes=(0, 1, 2))
