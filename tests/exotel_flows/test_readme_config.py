"""The README's "reaching the person" config, loaded as written (only the ledger's path, the
public URL and the Exotel base URL pointed at this test's), played end to end: a page to
``schedule:primary`` reaches whoever is on call by SMS, the next step calls them through the
paging flow, which the simulator plays against the status server over real HTTP, and the snooze
key pauses the escalation until a real worker sends the step after it; its override, ack timeout
and paging limits are the ones the README says."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from notifykit.server import StatusServer
from tests.delivery.conftest import SID, TOKEN
from tests.exotel_flows.test_flows import flow_calls, paging_flow
from tests.server.support import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "r3adme-flow-secret-0123456789"
IST = ZoneInfo("Asia/Kolkata")
PHONES = {"asha": "+919876543210", "ravi": "+919876543211", "meera": "+919876543212"}


def readme_config() -> dict[str, Any]:
    [block] = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
        if "schedules:" in b and "paging_limits:" in b
    ]
    config = yaml.safe_load(block)
    assert isinstance(config, dict)
    return config


def test_the_readme_config_pages_whoever_is_on_call_and_takes_the_snooze_key(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    monkeypatch.setenv("EXOTEL_SID", SID)
    monkeypatch.setenv("EXOTEL_TOKEN", TOKEN)
    monkeypatch.setenv("EXOTEL_FLOW_SECRET", SECRET)
    config = readme_config()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config["store"] = str(tmp_path / "notifykit.db")
    config["server"]["public_url"] = base
    config["accounts"]["exotel-main"]["base_url"] = sim.base_url
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    kit = make_kit(path, clock=clock)

    # What the README says the config holds.
    policy = kit.config.routing.escalations["primary"]
    assert policy.ack_timeout == 30 * 60
    assert (policy.call_keys.action("4"), policy.call_keys.snooze_for) == ("snooze", 30 * 60)
    limits = kit.config.paging_limits
    assert str(limits.limit("asha", "flow")) == "6/1h"
    assert str(limits.limit("meera", "flow")) == "10/1h"
    assert str(limits.limit("ravi", "sms")) == "30/1h"
    assert kit.oncall("primary", datetime(2026, 12, 25, 9, 0, tzinfo=IST)).who == "meera"

    sim.add_flow("4242", paging_flow(base))
    with StatusServer(kit, "127.0.0.1", port):
        # The clock's now (2027-01-15, 13:30 in India) is in the sixth weekly shift: ravi's.
        assert kit.oncall("primary").who == "ravi"
        kit.notify("db.down", severity="critical", labels={"host": "db1"})
        [sms] = [r.form for r in sim.requests if r.path.endswith("/Sms/send.json")]
        assert sms["To"] == [PHONES["ravi"]]

        sim.queue_digits(PHONES["ravi"], "4")
        clock.advance(5 * 60)  # the paging-flow step: the call to ravi, who presses 4
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
        [call] = flow_calls(sim)
        assert call["From"] == [PHONES["ravi"]]
        run = sim.wait_for_flow(next(iter(sim.calls)), timeout=10)
        assert run.spoken[0].endswith(
            "Press 1 to acknowledge, 2 to send it to the next person, 3 to resolve, "
            "4 to snooze for 30 minutes."
        )
        assert run.of("passthru")[0].requests[0].status == 200
        [record] = kit.ledger.routing.escalations()
        assert (record.state, record.acked_by, record.acked_via) == ("snoozed", "ravi", "keypress")
        assert record.wake_at == clock() + 30 * 60

        clock.advance(20 * 60)  # meera's step (15m) is past, but the snooze holds it
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
        assert len(flow_calls(sim)) == 1
        clock.advance(10 * 60)  # the snooze ends: meera's step goes out now
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
        assert [c["From"] for c in flow_calls(sim)] == [[PHONES["ravi"]], [PHONES["meera"]]]
