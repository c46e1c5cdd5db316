"""Paging limits end to end, over real HTTP to the simulator with a real worker, a real SQLite
ledger and a controllable clock: under the limit a page goes out; over it the page is held and
one bundle listing every held page goes out when the window frees; an escalation step whose
target is over their call limit is skipped and the next step fires at once; config problems are
reported with their line. An Exotel flow step counts as a call: over its ``flow`` limit it is
not reached either."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifykit import Notifier
from notifykit.config.loader import load_config
from notifykit.errors import ConfigError
from notifykit.plugins import Registry, get_plugin_manager
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, TOKEN, Clock, write_config
from tests.delivery.test_escalation import drain, sends

LIMITS: dict[str, Any] = {"sms": "2/1h", "call": "1/1h", "overrides": {"p1": {"sms": "5/1h"}}}


def registry() -> Registry:
    return Registry.from_manager(get_plugin_manager(disabled=[]))


def sms_bodies(sim: ExotelSimulator) -> list[str]:
    return [r.form["Body"][0] for r in sim.requests if r.path.endswith("/Sms/send.json")]


def deliveries(kit: Notifier) -> list[Any]:
    return [d for report in reversed(kit.history(limit=50)) for d in report.deliveries]


@pytest.fixture
def kit(
    make_kit: Callable[..., Notifier],
    sim: ExotelSimulator,
    tmp_path: Path,
    clock: Clock,
    store: str,
) -> Notifier:
    config = write_config(tmp_path, sim, paging_limits=LIMITS, store=store)
    return make_kit(config, clock=clock)


def test_under_the_limit_every_page_goes_out(kit, sim, clock):
    kit.notify("disk.full", severity="warning", data={"host": "db1"})
    clock.advance(60)
    kit.notify("disk.full", severity="warning", data={"host": "db2"})
    assert sends(sim) == [("sms", PHONES[0])] * 2
    # another recipient counts on their own, with their own (higher) limit
    for _ in range(3):
        kit.notify("disk.full", severity="warning", data={"host": "db3"}, to=["p1"])
    assert sends(sim)[2:] == [("sms", PHONES[1])] * 3


def test_over_the_limit_pages_are_held_and_bundled_into_one_sent_when_the_window_frees(
    kit, sim, clock
):
    start = clock()
    kit.notify("disk.full", severity="warning", data={"host": "db1"})
    clock.advance(10 * 60)
    kit.notify("disk.full", severity="warning", data={"host": "db2"})
    clock.advance(10 * 60)
    third = kit.notify("cpu.hot", severity="warning", data={"host": "db3"}, key="k3")
    clock.advance(60)
    fourth = kit.notify("mem.low", severity="warning", data={"host": "db4"}, key="k4")
    assert sends(sim) == [("sms", PHONES[0])] * 2
    held = [third.deliveries[0], fourth.deliveries[0]]
    reasons = {d.error for d in held if d.state.value == "skipped"}
    assert len(reasons) == 1, "both are in one bundle"
    [reason] = reasons
    assert reason is not None and reason.startswith("paging limit 2/1h: bundled into ")
    bundle_id = reason.rsplit(" ", 1)[1]
    [bundle] = [d for d in deliveries(kit) if d.id == bundle_id]
    assert bundle.state.value == "pending"
    assert bundle.due == pytest.approx(start + 3600)  # when the first page leaves the window
    # the worker sends nothing before then
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0])] * 2
    clock.advance(start + 3600 - clock() - 1)
    drain(kit, clock)
    assert len(sends(sim)) == 2
    clock.advance(1)
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0])] * 3
    assert sms_bodies(sim)[-1] == "2 more alerts (paging limit): cpu.hot k3, mem.low k4"
    # the ledger and the audit trail record each held page and its bundle
    held_audit = [a for a in kit.audit() if a.action == "paging-limited"]
    assert sorted(a.target["delivery"] for a in held_audit) == sorted(d.id for d in held)
    assert {a.target["bundle"] for a in held_audit} == {bundle_id}
    assert all("over the paging limit 2/1h" in (a.detail or "") for a in held_audit)


def test_a_page_after_the_bundle_is_due_waits_for_the_next_free_slot(kit, sim, clock):
    for host in ("a", "b", "c"):
        kit.notify("disk.full", severity="warning", data={"host": host}, key=host)
        clock.advance(60)
    clock.advance(3600)
    drain(kit, clock)  # the bundle of c goes out, a and b have left the window
    assert sms_bodies(sim)[-1] == "1 more alert (paging limit): disk.full c"
    # one slot of two is used by the bundle: one more page goes out, the next is held again
    kit.notify("disk.full", severity="warning", data={"host": "d"}, key="d")
    report = kit.notify("disk.full", severity="warning", data={"host": "e"}, key="e")
    assert len(sends(sim)) == 4
    assert (report.deliveries[0].error or "").startswith("paging limit 2/1h: bundled")


ROUTING: dict[str, Any] = {
    "receivers": {"page": {"escalation": "calls"}},
    "route": {"receiver": "page", "group_by": ["host"], "group_wait": "0s"},
    "escalations": {
        "calls": {
            "steps": [
                {"after": "0s", "channels": ["call"], "to": ["p0"]},
                {"after": "15m", "channels": ["call"], "to": ["p1"]},
            ]
        }
    },
}


def test_an_escalation_step_over_the_call_limit_is_skipped_and_the_next_fires_at_once(
    make_kit, sim, tmp_path, clock, store
):
    config = write_config(tmp_path, sim, paging_limits={"call": "1/1h"}, store=store, **ROUTING)
    kit = make_kit(config, clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sends(sim) == [("call", PHONES[0])]
    clock.advance(60)
    kit.notify("db.down", severity="critical", labels={"host": "db2"})
    # p0 had their one call this hour: step 0 counts as not reached, step 1 (p1) goes out now
    assert sends(sim) == [("call", PHONES[0]), ("call", PHONES[1])]
    second = [e for e in kit.ledger.routing.escalations() if "db2" in e.key]
    [escalation] = second
    states = [s.state for s in kit.ledger.routing.escalation_steps(escalation.id)]
    assert states == ["skipped", "sent"]
    [audit] = [
        a for a in kit.audit() if a.action == "escalated" and "paging limit" in (a.detail or "")
    ]
    assert audit.detail == (
        "step 0.0 skipped: paging limit: p0 (call limit 1/1h) over the call limit; "
        "the next step goes out now"
    )


def test_config_problems_are_reported_with_their_line(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    bad = {"sms": "30 per hour", "call": "0/1h", "fax": "1/1h", "overrides": {"nobody": {}}}
    path = write_config(tmp_path, sim, paging_limits=bad)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry=registry())
    text = str(caught.value)
    lines = path.read_text().splitlines()
    for needle, message in (
        ("30 per hour", "paging_limits.sms: expected N/duration"),
        ("0/1h", "paging_limits.call: expected N/duration"),
        ("fax", "paging_limits.fax: unknown channel kind 'fax'"),
        ("nobody", "paging_limits.overrides.nobody: no recipient named 'nobody'"),
    ):
        line = next(i for i, text in enumerate(lines, 1) if needle in text)
        assert f"{path}:{line}: {message}" in text


def test_a_config_without_paging_limits_has_none(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    assert not load_config(write_config(tmp_path, sim), registry=registry()).paging_limits


def test_a_duplicate_key_over_the_limit_adds_nothing_to_the_bundle(kit, sim, clock):
    first = [
        kit.notify("disk.full", severity="warning", data={"host": key}, key=key)
        for key in ("a", "b", "c")
    ]
    again = kit.notify("disk.full", severity="warning", data={"host": "c"}, key="c")
    assert again.id == first[2].id  # the stored one, nothing new
    assert [a.target["delivery"] for a in kit.audit() if a.action == "paging-limited"] == [
        first[2].deliveries[0].id
    ]
    clock.advance(3600)
    drain(kit, clock)
    assert sms_bodies(sim)[-1] == "1 more alert (paging limit): disk.full c"


GROUPED: dict[str, Any] = {
    "receivers": {"ops": {"channels": ["sms"], "to": ["p0"]}},
    "route": {"receiver": "ops", "group_by": ["host"], "group_wait": "0s"},
}


def test_a_routed_page_over_the_limit_is_bundled_with_its_group_key(
    make_kit, sim, tmp_path, clock, store
):
    config = write_config(tmp_path, sim, paging_limits={"sms": "1/10m"}, store=store, **GROUPED)
    kit = make_kit(config, clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    kit.notify("db.down", severity="critical", labels={"host": "db2"})
    kit.notify("db.down", severity="critical", labels={"host": "db3"})
    assert sends(sim) == [("sms", PHONES[0])]
    clock.advance(10 * 60)
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0])] * 2
    assert sms_bodies(sim)[-1] == (
        "2 more alerts (paging limit): db.down {host=db2}, db.down {host=db3}"
    )


def test_the_documented_config_loads_and_holds_past_the_limit(make_kit, sim, tmp_path, clock):
    """docs/routing.md's paging_limits example, loaded as it is written."""
    from tests.docs_support import ROOT, blocks

    [block] = [
        b
        for b in blocks(ROOT / "docs" / "routing.md")
        if b.lang == "yaml" and "paging_limits:" in b.text
    ]
    documented = yaml.safe_load(block.text)
    kit = make_kit(write_config(tmp_path, sim, **documented), clock=clock)
    limits = kit.config.paging_limits
    assert (limits.limit("p0", "call").count, limits.limit("p0", "call").window) == (6, 3600)
    assert limits.limit("p1", "call").count == 10
    assert limits.limit("p1", "sms").count == 30
    for n in range(31):
        kit.notify("disk.full", severity="warning", data={"host": f"h{n}"}, key=f"k{n}")
    assert len(sends(sim)) == 30
    clock.advance(3600)
    drain(kit, clock)
    assert sms_bodies(sim)[-1] == "1 more alert (paging limit): disk.full k30"


def test_calls_over_the_limit_are_bundled_into_one_call_and_sms_count_apart(kit, sim, clock):
    kit.notify("db.down", severity="critical", channels=["call"], key="c1")
    held = kit.notify("db.down", severity="critical", channels=["call"], key="c2")
    kit.notify("db.down", severity="critical", channels=["sms"], key="s1")  # its own limit
    assert sends(sim) == [("call", PHONES[0]), ("sms", PHONES[0])]
    assert (held.deliveries[0].error or "").startswith("paging limit 1/1h: bundled into ")
    clock.advance(3600)
    drain(kit, clock)
    assert sends(sim) == [("call", PHONES[0]), ("sms", PHONES[0]), ("call", PHONES[0])]


def test_a_flow_step_over_the_flow_limit_is_skipped_and_the_next_fires_at_once(
    make_kit, sim, tmp_path, clock, store
):
    """An Exotel flow (the call that takes keys) rings the phone too: a step paging through one
    to a person over their ``flow`` limit is not reached, as a plain call is, instead of being
    held for a bundle while the escalation waits; the step after it goes out at once."""
    flow = {"type": "exotel-flow", "account": "main", "caller_id": "08047112345", "app_id": "4242"}
    routing = {
        **ROUTING,
        "escalations": {
            "calls": {
                "steps": [
                    {"after": "0s", "channels": ["page"], "to": ["p0"]},
                    {"after": "15m", "channels": ["page"], "to": ["p1"]},
                ]
            }
        },
    }
    config = write_config(tmp_path, sim, paging_limits={"flow": "1/1h"}, store=store, **routing)
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    loaded["channels"]["page"] = flow
    config.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    kit = make_kit(config, clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sends(sim) == [("call", PHONES[0])]
    clock.advance(60)
    report = kit.notify("db.down", severity="critical", labels={"host": "db2"})
    # p0 had their one flow call this hour: step 0 is not reached, step 1 (p1) goes out now
    assert sends(sim) == [("call", PHONES[0]), ("call", PHONES[1])]
    assert [r.form["From"] for r in sim.requests if r.path.endswith("/Calls/connect.json")] == [
        [PHONES[0]],
        [PHONES[1]],
    ]
    [escalation] = [e for e in kit.ledger.routing.escalations() if "db2" in e.key]
    states = [s.state for s in kit.ledger.routing.escalation_steps(escalation.id)]
    assert states == ["skipped", "sent"]
    [audit] = [
        a for a in kit.audit() if a.action == "escalated" and "paging limit" in (a.detail or "")
    ]
    assert audit.detail == (
        "step 0.0 skipped: paging limit: p0 (flow limit 1/1h) over the call limit; "
        "the next step goes out now"
    )
    assert all(d.state.value != "skipped" or d.recipient != "p1" for d in report.deliveries)
    clock.advance(3600)
    drain(kit, clock)  # nothing was held for p0: no bundle goes out later
    assert sends(sim).count(("call", PHONES[0])) == 1


def test_a_step_calling_two_skips_only_the_one_over_the_limit(make_kit, sim, tmp_path, clock):
    routing = {
        **ROUTING,
        "escalations": {
            "calls": {"steps": [{"after": "0s", "channels": ["call"], "to": ["p0", "p1"]}]}
        },
    }
    config = write_config(tmp_path, sim, paging_limits={"call": "1/1h"}, **routing)
    kit = make_kit(config, clock=clock)
    kit.notify("db.down", severity="critical", channels=["call"], to=["p0"], key="first")
    report = kit.notify("db.down", severity="critical", labels={"host": "db2"})
    assert sends(sim) == [("call", PHONES[0]), ("call", PHONES[1])]
    by_recipient = {d.recipient: d for d in report.deliveries}
    assert by_recipient["p0"].state.value == "skipped"
    assert by_recipient["p0"].error == "paging limit: over the call limit 1/1h"
    assert by_recipient["p1"].state.value != "skipped"


def test_two_processes_paging_one_person_at_once_keep_to_the_limit(
    make_kit, sim, tmp_path, clock, store
):
    """Two Notifiers on one ledger (two processes' worth) page one person at once: the limit
    holds across them (on PostgreSQL a per-recipient transaction lock; SQLite serialises
    writers), and every held page is in the one bundle."""
    import threading

    config = write_config(tmp_path, sim, paging_limits={"sms": "2/1h"}, store=store)
    kits = [make_kit(config, clock=clock) for _ in range(2)]
    start = threading.Barrier(len(kits))
    failures: list[BaseException] = []

    def page(kit: Notifier, who: int) -> None:
        try:
            start.wait(timeout=10)
            for n in range(4):
                kit.notify("disk.full", severity="warning", key=f"w{who}-{n}")
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=page, args=(k, i)) for i, k in enumerate(kits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    assert len(sends(sim)) == 2
    clock.advance(3600)
    drain(kits[0], clock)
    assert len(sends(sim)) == 3
    assert sms_bodies(sim)[-1].startswith("6 more alerts (paging limit): ")


def test_config_check_on_the_command_line_names_file_and_line(tmp_path, sim, monkeypatch):
    import os
    import subprocess
    import sys

    path = write_config(tmp_path, sim, paging_limits={"call": "6/1h", "sms": "30/hour"})
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "30/hour" in t)
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN}
    check = [sys.executable, "-m", "notifykit", "config", "check", str(path)]
    done = subprocess.run(check, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0
    assert f"{path}:{line}: paging_limits.sms: expected N/duration" in done.stdout + done.stderr
    good = write_config(tmp_path, sim, paging_limits={"call": "6/1h", "sms": "30/1h"})
    done = subprocess.run(
        [*check[:-1], str(good)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
