"""Acknowledge on the call (issue 17), end to end over real HTTP: the status server serves the
URLs an Exotel flow calls, the simulator plays the paging flow (Greeting from URL → Gather →
Passthru → Greeting) against it with the keys queued for the person, and a real worker sends
the next step. Every wait is on a condition with a deadline."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.flows import Connect, Gather, Greeting, Hangup, Passthru
from tests.delivery.conftest import PHONES, Clock, wait_until, write_config
from tests.server.support import Serve, acknowledgements, free_port

EXOPHONE = "08047112345"
FLOW_SECRET = "f10w-s3cret-0123456789abcdef"
KEYS = "Press 1 to acknowledge, 2 to send it to the next person, 3 to resolve."


def sections(port: int, **policy: Any) -> dict[str, Any]:
    return {
        "server": {"public_url": f"http://127.0.0.1:{port}", "port": port},
        "account": {"flow_secret": "${NK_FLOW_SECRET}"},
        "channels": {
            "sms": {
                "type": "exotel-sms",
                "account": "main",
                "senders": {"default": {"from": "NKALRT"}},
            },
            "page": {
                "type": "exotel-flow",
                "account": "main",
                "caller_id": EXOPHONE,
                "app_id": "4242",
            },
        },
        "receivers": {"oncall": {"escalation": "primary"}},
        "route": {"receiver": "oncall"},
        "escalations": {
            "primary": {
                "steps": [
                    {"after": "0s", "channels": ["page"], "to": ["p0"]},
                    {"after": "5m", "channels": ["page"], "to": ["p1"]},
                ],
                **policy,
            }
        },
    }


def paging_flow(base: str) -> list[Any]:
    """The flow docs/exotel-flows.md builds in Exotel's dashboard."""
    return [
        Greeting(url=f"{base}/exotel/voice"),
        Gather(prompt=None, max_digits=1, timeout=5),
        Passthru(url=f"{base}/exotel/digits", success="ok", failure="nok"),
        Greeting(text="Done. Thank you.", name="ok"),
        Hangup(),
        Greeting(text="Not recognised.", name="nok"),
        Hangup(),
    ]


@pytest.fixture
def served(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Notifier, StatusServer]]:
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    config = write_config(tmp_path, sim, **sections(port))
    kit = make_kit(config, clock=clock)
    sim.add_flow("4242", paging_flow(f"http://127.0.0.1:{port}"))
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server


def flow_calls(sim: ExotelSimulator) -> list[dict[str, list[str]]]:
    return [r.form for r in sim.requests if r.path.endswith("/Calls/connect.json")]


def escalation(kit: Notifier) -> Any:
    [record] = kit.ledger.routing.escalations()
    return record


def page(kit: Notifier, sim: ExotelSimulator, keys: str | None) -> tuple[str, Any]:
    """Fire an alert whose first step calls p0, who presses ``keys`` (None: nothing)."""
    if keys is not None:
        sim.queue_digits(PHONES[0], keys)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [_form] = flow_calls(sim)
    sid = next(iter(sim.calls))
    return sid, sim.wait_for_flow(sid, timeout=10)


def test_the_call_carries_a_token_and_speaks_the_text_then_the_keys(served, sim):
    kit, _ = served
    sid, run = page(kit, sim, "1")
    [form] = flow_calls(sim)
    token = form["CustomField"][0]
    assert "alert" not in token and len(token) < 64  # an opaque token, not the text
    text = run.spoken[0]
    assert text.startswith("This is a critical alert from notifykit.")
    assert "db down, host db1" in text and text.endswith(KEYS)
    head, get = [s for s in run.requests if s.url.split("?")[0].endswith("/exotel/voice")]
    assert (head.method, get.method, get.status) == ("HEAD", "GET", 200)
    again = requests.get(
        f"{kit.config.server.public_url}/exotel/voice",
        params={"CallSid": sid, "CustomField": token},
        timeout=5,
    )
    assert again.status_code == 200 and again.headers["Content-Type"].startswith("text/plain")
    assert again.text == text


def test_keypress_ack_stops_the_escalation_as_the_person_called(served, sim, clock):
    kit, _ = served
    _, run = page(kit, sim, "1")
    assert run.spoken[-1] == "Done. Thank you."
    [passthru] = run.of("passthru")
    assert passthru.requests[0].status == 200
    record = escalation(kit)
    assert (record.state, record.acked_by, record.acked_via) == ("acked", "p0", "keypress")
    [row] = [a for a in kit.audit() if a.action == "acknowledged"]
    assert (row.path, row.actor) == ("keypress", "p0")
    assert "pressed 1 on the call of step 0.0" in (row.detail or "")
    server = served[1]
    assert acknowledgements(server.url) == {("keypress", "page"): 1}
    link = kit.ack_url(record.ack_id)
    assert link is not None
    assert (
        "Already acknowledged by p0 (key pressed on the call)" in requests.get(link, timeout=5).text
    )
    clock.advance(10 * 60)  # the second step's time: nothing more goes out
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    assert len(flow_calls(sim)) == 1


def test_keypress_escalate_sends_the_next_step_now(served, sim, clock):
    kit, _ = served
    _, run = page(kit, sim, "2")
    assert run.of("passthru")[0].requests[0].status == 200
    assert escalation(kit).state == "active"
    sim.queue_digits(PHONES[1], "2")  # p1 presses 2 too, but no step is left after theirs
    # No clock advance: the real worker sends step 0.1 because the key made it due now.
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    wait_until(lambda: len(flow_calls(sim)) == 2, timeout=10)
    second = flow_calls(sim)[1]
    assert second["From"] == [PHONES[1]]
    [row] = [a for a in kit.audit() if a.action == "escalated"]
    assert (row.path, row.actor) == ("keypress", "p0")
    last = sim.wait_for_flow(list(sim.calls)[1], timeout=10)
    assert last.of("passthru")[0].requests[0].status == 302  # nobody to escalate to
    assert last.spoken[0].startswith("This is a critical alert")


def test_keypress_resolve_resolves_the_alert(served, sim):
    kit, _ = served
    _, run = page(kit, sim, "3")
    assert run.of("passthru")[0].requests[0].status == 200
    record = escalation(kit)
    assert record.state == "resolved"
    [row] = [a for a in kit.audit() if a.action == "resolved"]
    assert (row.path, row.actor) == ("keypress", "p0")
    assert kit.alerts() == []


def test_an_unrecognised_key_is_302_and_changes_nothing(served, sim):
    kit, _ = served
    _, run = page(kit, sim, "9")
    [passthru] = run.of("passthru")
    assert passthru.requests[0].status == 302 and passthru.branch == "failure"
    assert run.spoken[-1] == "Not recognised."
    assert escalation(kit).state == "active"


def test_a_replayed_request_is_idempotent(served, sim, clock):
    kit, _ = served
    _, run = page(kit, sim, "2")
    [passthru] = run.of("passthru")
    url = passthru.requests[0].url
    replay = requests.get(url, timeout=5)  # Exotel retries the same request
    assert replay.status_code == 200
    escalated = [a for a in kit.audit() if a.action == "escalated"]
    assert len(escalated) == 1  # not twice
    steps = kit.ledger.routing.escalation_steps(escalation(kit).id)
    assert sum(1 for s in steps if s.due_at <= clock()) == 2  # only the next step moved


def test_an_unknown_token_is_404(served, sim):
    kit, _ = served
    base = kit.config.server.public_url
    for path in ("/exotel/voice", "/exotel/digits"):
        answer = requests.get(
            f"{base}{path}",
            params={"CallSid": "x", "digits": '"1"', "CustomField": "A" * 22 + ".AAAAAAAA"},
            timeout=5,
        )
        assert answer.status_code == 404
        assert (
            requests.get(f"{base}{path}", params={"CustomField": "nope"}, timeout=5).status_code
            == 404
        )


def test_an_answered_call_without_a_key_is_no_ack_when_the_policy_has_keys(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    policy = {"ack_on_answer": True, "keys": {"ack": "5", "instructions": "Press 5, please."}}
    kit = make_kit(write_config(tmp_path, sim, **sections(port, **policy)), clock=clock)
    sim.add_flow("4242", paging_flow(f"http://127.0.0.1:{port}"))
    with StatusServer(kit, "127.0.0.1", port):
        sid, run = page(kit, sim, None)
        assert run.spoken[0].endswith("Press 5, please.")
        [gather] = run.of("gather")
        assert gather.timed_out
        [attempt] = sim.complete(sid)  # answered (completed), and the callback arrives
        assert attempt.status == 200
        assert escalation(kit).state == "active"  # answered, no key: not acknowledged
        sim.queue_digits(PHONES[0], "1")  # the default ack key is not this policy's
        assert escalation(kit).state == "active"


def test_keypress_snooze_pauses_the_escalation_and_its_next_step_goes_out_when_it_ends(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    """A policy with a snooze key: the call says it, the key pauses the escalation for
    ``snooze_for`` (a replay does not pause it again), and a real worker sends the next step
    when the snooze ends, not at the step's own time."""
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    policy = {"keys": {"snooze": "4", "snooze_for": "20m"}}
    kit = make_kit(write_config(tmp_path, sim, **sections(port, **policy)), clock=clock)
    sim.add_flow("4242", paging_flow(f"http://127.0.0.1:{port}"))
    with StatusServer(kit, "127.0.0.1", port):
        _, run = page(kit, sim, "4")
        assert run.spoken[0].endswith(
            "Press 1 to acknowledge, 2 to send it to the next person, 3 to resolve, "
            "4 to snooze for 20 minutes."
        )
        [passthru] = run.of("passthru")
        assert passthru.requests[0].status == 200 and run.spoken[-1] == "Done. Thank you."
        record = escalation(kit)
        until = clock() + 20 * 60
        assert (record.state, record.acked_by, record.acked_via, record.wake_at) == (
            "snoozed",
            "p0",
            "keypress",
            until,
        )
        [row] = [a for a in kit.audit() if a.action == "snoozed"]
        assert (row.path, row.actor) == ("keypress", "p0")
        assert "for 20m, until " in (row.detail or "")
        assert "(pressed 4 on the call of step 0.0)" in (row.detail or "")
        clock.advance(60)
        replay = requests.get(passthru.requests[0].url, timeout=5)  # Exotel retries it
        assert replay.status_code == 200
        assert len([a for a in kit.audit() if a.action == "snoozed"]) == 1
        assert escalation(kit).wake_at == until  # not pushed back by the replay
        clock.advance(9 * 60)  # step 0.1's own time (5m) is past: the snooze holds it
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
        assert len(flow_calls(sim)) == 1
        clock.advance(10 * 60)  # the snooze ends: the next step goes out now
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
        wait_until(lambda: len(flow_calls(sim)) == 2, timeout=10)
        assert flow_calls(sim)[1]["From"] == [PHONES[1]]
        assert [a.action for a in kit.audit() if a.action in ("snoozed", "resumed")] == [
            "snoozed",
            "resumed",
        ]
        assert escalation(kit).state == "done"  # its last step sent, nobody has acknowledged


def test_without_a_snooze_key_the_snooze_digit_is_not_recognised(served, sim):
    kit, _ = served
    _, run = page(kit, sim, "4")
    assert run.spoken[0].endswith(KEYS)  # the default keys say nothing of a snooze
    assert run.of("passthru")[0].requests[0].status == 302
    assert escalation(kit).state == "active"


def test_a_snooze_key_shared_with_another_action_or_a_zero_snooze_is_a_config_problem(
    tmp_path, sim, monkeypatch
):
    from notifykit.config.loader import load_config
    from notifykit.errors import ConfigError
    from notifykit.plugins import Registry, get_plugin_manager

    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    for keys, words in (
        ({"snooze": "2"}, "the same key"),
        ({"snooze": "44"}, "one key"),
        ({"snooze": "4", "snooze_for": "0s"}, "snooze_for"),
    ):
        path = write_config(tmp_path, sim, **sections(8025, keys=keys))
        with pytest.raises(ConfigError) as raised:
            load_config(path, registry=Registry.from_manager(get_plugin_manager()))
        assert "escalations.primary.keys" in str(raised.value), keys
        assert words in str(raised.value), (keys, str(raised.value))


# -- missed call --------------------------------------------------------------------------------


def missed_call_flow(base: str, secret: str) -> list[Any]:
    return [Passthru(url=f"{base}/exotel/{secret}/missed-call", success="hangup", failure="hangup")]


def test_a_missed_call_acknowledges_what_pages_the_caller(served, sim):
    kit, _ = served
    base = kit.config.server.public_url
    sim.add_flow("missed", missed_call_flow(base, FLOW_SECRET), exophone=EXOPHONE)
    page(kit, sim, None)
    sid = sim.missed_call("09876543210", EXOPHONE)  # p0, in the national form Exotel sends
    run = sim.wait_for_flow(sid, timeout=10)
    [step] = run.of("passthru")
    assert step.requests[0].status == 200
    record = escalation(kit)
    assert (record.state, record.acked_by, record.acked_via) == ("acked", "p0", "missed-call")
    [row] = [a for a in kit.audit() if a.action == "acknowledged"]
    assert (row.path, row.actor) == ("missed-call", "p0")
    assert acknowledgements(served[1].url) == {("missed-call", ""): 1}
    replay = requests.get(step.requests[0].url, timeout=5)
    assert replay.status_code == 200  # the same CallSid again: the same answer


def test_a_missed_call_with_nothing_open_is_302(served, sim):
    kit, _ = served
    base = kit.config.server.public_url
    sim.add_flow("missed", missed_call_flow(base, FLOW_SECRET), exophone=EXOPHONE)
    run = sim.wait_for_flow(sim.missed_call(PHONES[2], EXOPHONE), timeout=10)
    assert run.of("passthru")[0].requests[0].status == 302


def test_a_wrong_flow_secret_is_404(served, sim):
    kit, _ = served
    base = kit.config.server.public_url
    page(kit, sim, None)
    wrong = FLOW_SECRET[:-1] + ("x" if FLOW_SECRET[-1] != "x" else "y")
    answer = requests.get(
        f"{base}/exotel/{wrong}/missed-call",
        params={"CallSid": "c1", "From": PHONES[0], "To": EXOPHONE},
        timeout=5,
    )
    assert answer.status_code == 404
    assert escalation(kit).state == "active"


def test_notifykit_serve_takes_the_key_and_keeps_secrets_and_tokens_out_of_its_log(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    """`notifykit serve` in a process of its own, on the ledger this process pages through."""
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    config = write_config(tmp_path, sim, **sections(port))
    server = Serve(config, port, "-v", tmp=tmp_path)
    try:
        base = server.url
        kit = make_kit(config, clock=clock)
        sim.add_flow("4242", paging_flow(base))
        sim.add_flow("missed", missed_call_flow(base, FLOW_SECRET), exophone=EXOPHONE)
        _, run = page(kit, sim, "1")
        assert run.of("passthru")[0].requests[0].status == 200
        record = escalation(kit)
        assert (record.state, record.acked_by, record.acked_via) == ("acked", "p0", "keypress")
        token = flow_calls(sim)[0]["CustomField"][0]
        for secret in (FLOW_SECRET, FLOW_SECRET[::-1]):
            requests.get(
                f"{base}/exotel/{secret}/missed-call",
                params={"CallSid": "c1", "From": PHONES[0], "To": EXOPHONE},
                timeout=5,
            )
        requests.get(
            f"{base}/exotel/voice", params={"CustomField": "B" * 22 + ".BBBBBBBB"}, timeout=5
        )
    finally:
        server.stop()
    log = server.log()
    assert "GET /exotel/digits -> 200" in log and "HEAD /exotel/voice -> 200" in log
    assert "GET /exotel/<token>/missed-call -> 302" in log  # logged, the secret cut out
    assert "GET /exotel/<token>/missed-call -> 404" in log
    assert FLOW_SECRET not in log and FLOW_SECRET[::-1] not in log
    assert token not in log and token.split(".")[0] not in log and "B" * 22 not in log


def test_a_flow_secret_written_in_the_file_is_a_problem(tmp_path, sim):
    from notifykit.config.loader import load_config
    from notifykit.errors import ConfigError
    from notifykit.plugins import Registry, get_plugin_manager

    path = write_config(tmp_path, sim, account={"flow_secret": FLOW_SECRET})
    with pytest.raises(ConfigError) as raised:
        load_config(path, registry=Registry.from_manager(get_plugin_manager()))
    assert "flow_secret" in str(raised.value) and FLOW_SECRET not in str(raised.value)


# -- notifykit flows ----------------------------------------------------------------------------


def run_flows(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``notifykit flows`` as a user runs it (the Exotel plugin adds it to the command line)."""
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), "flows", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_flows_prints_the_urls_to_paste_per_account(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    config = write_config(tmp_path, sim, **sections(8025))
    result = run_flows(config, "--json")
    assert result.returncode == 0, result.stderr
    base = "http://127.0.0.1:8025"
    assert json.loads(result.stdout) == {
        "main": {
            "voice": f"{base}/exotel/voice",
            "digits": f"{base}/exotel/digits",
            "missed_call": f"{base}/exotel/{FLOW_SECRET}/missed-call",
            "oncall": f"{base}/exotel/{FLOW_SECRET}/oncall",
        }
    }
    text = run_flows(config)
    assert text.returncode == 0 and f"{base}/exotel/voice" in text.stdout
    assert "Greeting (read text from URL)" in text.stdout
    assert FLOW_SECRET not in text.stderr


def test_flows_without_public_url_says_what_to_set(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    result = run_flows(write_config(tmp_path, sim))
    assert result.returncode == 3 and "server.public_url" in result.stderr


def test_a_head_request_acts_on_nothing(served, sim):
    kit, _ = served
    _, run = page(kit, sim, None)
    [voice] = [s for s in run.requests if s.url.split("?")[0].endswith("/exotel/voice")][-1:]
    token = voice.url.split("CustomField=")[1].split("&")[0]
    base = kit.config.server.public_url
    params = {"CallSid": "c9", "digits": '"1"', "CustomField": token}
    assert requests.head(f"{base}/exotel/digits", params=params, timeout=5).status_code == 405
    missed = f"{base}/exotel/{FLOW_SECRET}/missed-call"
    assert (
        requests.head(missed, params={"CallSid": "c9", "From": PHONES[0]}, timeout=5).status_code
        == 405
    )
    assert escalation(kit).state == "active"
    bare = requests.get(f"{base}/exotel/digits", params={**params, "digits": "1"}, timeout=5)
    assert bare.status_code == 200  # digits without Exotel's quotes
    assert escalation(kit).acked_via == "keypress"


def test_two_actions_on_one_key_is_a_config_problem(tmp_path, sim, monkeypatch):
    from notifykit.config.loader import load_config
    from notifykit.errors import ConfigError
    from notifykit.plugins import Registry, get_plugin_manager

    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    path = write_config(tmp_path, sim, **sections(8025, keys={"ack": "1", "resolve": "1"}))
    with pytest.raises(ConfigError) as raised:
        load_config(path, registry=Registry.from_manager(get_plugin_manager()))
    assert "escalations.primary.keys" in str(raised.value)
    assert "the same key" in str(raised.value)


def test_on_postgresql_keys_replays_and_missed_calls_work_the_same(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    from tests.services import postgres_schema

    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with postgres_schema() as store:
        config = write_config(tmp_path, sim, store=store, **sections(port))
        kit = make_kit(config, clock=clock)
        sim.add_flow("4242", paging_flow(base))
        sim.add_flow("missed", missed_call_flow(base, FLOW_SECRET), exophone=EXOPHONE)
        with StatusServer(kit, "127.0.0.1", port):
            _, run = page(kit, sim, "2")
            [passthru] = run.of("passthru")
            assert passthru.requests[0].status == 200
            assert requests.get(passthru.requests[0].url, timeout=5).status_code == 200
            assert len([a for a in kit.audit() if a.action == "escalated"]) == 1
            missed = sim.wait_for_flow(sim.missed_call(PHONES[0], EXOPHONE), timeout=10)
            assert missed.of("passthru")[0].requests[0].status == 200
            record = escalation(kit)
            assert (record.state, record.acked_by, record.acked_via) == (
                "acked",
                "p0",
                "missed-call",
            )
        kit.close()


def test_a_missed_call_ack_is_confirmed_by_sms_when_the_account_says_so(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = sections(port)
    config["account"]["missed_call_sms"] = "sms"
    kit = make_kit(write_config(tmp_path, sim, **config), clock=clock)
    sim.add_flow("4242", paging_flow(base))
    sim.add_flow("missed", missed_call_flow(base, FLOW_SECRET), exophone=EXOPHONE)
    with StatusServer(kit, "127.0.0.1", port):
        page(kit, sim, None)
        run = sim.wait_for_flow(sim.missed_call("09876543210", EXOPHONE), timeout=10)
        assert run.of("passthru")[0].requests[0].status == 200
    [sms] = [r.form for r in sim.requests if r.path.endswith("/Sms/send.json")]
    assert sms["To"] == [PHONES[0]]
    assert sms["Body"][0].startswith("Acknowledged by your missed call: db.down.")


# -- who is on call: the Connect applet's "dial whom" URL ---------------------------------------

SCHEDULES = {
    "primary": {
        "timezone": "Asia/Kolkata",
        "layers": [{"rotation": "daily", "start": "2026-12-07T10:00", "members": ["p0", "p1"]}],
    },
    "nights": {
        "layers": [{"rotation": "weekly", "start": "2026-12-07T10:00", "members": ["p2"]}],
    },
}


def test_the_oncall_url_answers_whoever_is_on_call_and_a_connect_dials_them(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = sections(port)
    config["account"]["oncall_schedule"] = "primary"
    kit = make_kit(write_config(tmp_path, sim, schedules=SCHEDULES, **config), clock=clock)
    url = f"{base}/exotel/{FLOW_SECRET}/oncall"
    sim.add_flow("dial", [Connect(url=url), Hangup()], exophone=EXOPHONE)
    with StatusServer(kit, "127.0.0.1", port):
        who = kit.oncall("primary").who
        assert who in ("p0", "p1")
        phone = PHONES[int(who[1])]
        run = sim.wait_for_flow(sim.incoming_call("+919800000001", EXOPHONE), timeout=10)
        assert [d[-10:] for d in run.dialled] == [phone[-10:]]  # Exotel dials it (its form)
        [request] = run.of("connect")[0].requests
        assert request.status == 200
        clock.advance(24 * 3600)  # the next day's shift: the other one
        other = requests.get(url, params={"CallSid": "c2", "CallFrom": "x"}, timeout=5)
        assert other.status_code == 200 and other.text == PHONES[1 - int(who[1])]
        named = requests.get(url, params={"schedule": "nights"}, timeout=5)
        assert (named.status_code, named.text) == (200, PHONES[2])
        assert requests.get(url, params={"schedule": "nope"}, timeout=5).status_code == 404
        wrong = f"{base}/exotel/{FLOW_SECRET[::-1]}/oncall"
        assert requests.get(wrong, timeout=5).status_code == 404


def test_the_oncall_url_needs_a_schedule_named_when_there_are_several(
    tmp_path, sim, make_kit, clock, monkeypatch
):
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    kit = make_kit(write_config(tmp_path, sim, schedules=SCHEDULES, **sections(port)), clock=clock)
    with StatusServer(kit, "127.0.0.1", port):
        url = f"http://127.0.0.1:{port}/exotel/{FLOW_SECRET}/oncall"
        answer = requests.get(url, timeout=5)
        assert answer.status_code == 400 and "schedule" in answer.text
