"""Prometheus metrics, scraped over real HTTP and read with prometheus_client's own text parser:
``notifykit serve``'s ``/metrics`` and a ``notifykit worker --metrics-port`` subprocess against
the simulator (a delivery sent then delivered by callback, one failed, one unknown), the
escalation gauges and acknowledgements, a ledger that cannot be read, the CLI's mistakes, and
that every metric exported is documented and no scrape carries a number or a secret."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from notifykit import Notifier
from notifykit.metrics import parse_address
from notifykit.model import DeliveryState
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import PHONES, TOKEN, Clock, free_port, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]

DELIVERY_LABELS = {"channel", "channel_type", "provider", "state"}


def scrape(url: str) -> tuple[str, list[Sample]]:
    """The text at ``url`` and every sample in it, as Prometheus' text parser reads them."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    return text, [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels`` (``None``: there is none)."""
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def named(samples: list[Sample], name: str) -> list[Sample]:
    return [s for s in samples if s.name == name]


def assert_no_number_or_secret(text: str) -> None:
    for phone in PHONES:
        assert phone not in text and phone[-10:] not in text, phone
    assert TOKEN not in text


def _env() -> dict[str, str]:
    return {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "NOTIFYKIT_DISABLE_PLUGINS": ""}


def _start(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "notifykit", "-c", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then its stderr once it has exited (0: a clean stop)."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _state(kit: Notifier, notification_id: str) -> DeliveryState:
    [delivery] = kit.ledger.report(notification_id).deliveries
    return delivery.state


def test_serve_and_a_worker_export_what_happened(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    processes: list[subprocess.Popen[str]],
) -> None:
    serve_port, metrics_port = free_port(), free_port()
    serve_url = f"http://127.0.0.1:{serve_port}"
    config = write_config(
        tmp_path,
        sim,
        server={"public_url": serve_url, "port": serve_port},
        worker={"poll": "0.1s"},
    )
    kit = make_kit(config)
    serve = _start(config, "serve")
    processes.append(serve)
    started = time.time()
    worker = _start(config, "worker", "--node", "w1", "--metrics-port", f"127.0.0.1:{metrics_port}")
    processes.append(worker)
    worker_url = f"http://127.0.0.1:{metrics_port}/metrics"
    wait_until(lambda: _answers(f"{serve_url}/healthz") or serve.poll() is not None, 30)
    wait_until(lambda: _answers(worker_url) or worker.poll() is not None, 30)
    assert serve.poll() is None and worker.poll() is None

    # One failed (Exotel refuses the number), one unknown (the connection dropped: it may have
    # been sent), one sent and then delivered by Exotel's callback to serve.
    sim.inject(Fault(status=400, code=40007, message="invalid To"))
    failed = kit.submit("db.down", data={"host": "a"}, to="p1")
    wait_until(lambda: _state(kit, failed.id) is DeliveryState.FAILED, 30)
    sim.inject(Fault(drop=True))
    unknown = kit.submit("db.down", data={"host": "b"}, to="p2")
    wait_until(lambda: _state(kit, unknown.id) is DeliveryState.UNKNOWN, 30)
    sent = kit.submit("db.down", data={"host": "c"}, to="p0")
    wait_until(lambda: _state(kit, sent.id) is DeliveryState.SENT, 30)
    [attempt] = sim.complete()
    assert attempt.status == 200
    assert _state(kit, sent.id) is DeliveryState.DELIVERED
    forged = requests.post(f"{serve_url}/status/{'x' * 22}", data={"SmsSid": "s"}, timeout=5)
    assert forged.status_code == 404

    # The worker's own port: what it sent, how long it took, its rate limiter, its loop.
    text, samples = scrape(worker_url)
    assert_no_number_or_secret(text)
    sms = {"channel": "sms", "channel_type": "exotel-sms", "provider": "exotel"}
    assert {s.labels["state"]: s.value for s in named(samples, "notifykit_deliveries_total")} == {
        "failed": 1,
        "unknown": 1,
        "sent": 1,
    }
    assert all(
        set(s.labels) == DELIVERY_LABELS for s in named(samples, "notifykit_deliveries_total")
    )
    assert value(samples, "notifykit_deliveries_total", **sms, state="sent") == 1
    one_batch_each = {"channel": "sms", "provider": "exotel"}
    assert value(samples, "notifykit_send_duration_seconds_count", **one_batch_each) == 3
    assert value(samples, "notifykit_send_duration_seconds_sum", **one_batch_each) > 0
    waits = {"provider": "exotel", "account": "main"}
    assert value(samples, "notifykit_rate_limiter_wait_seconds_count", **waits) == 3
    assert value(samples, "notifykit_worker_running") == 1
    loop = value(samples, "notifykit_worker_last_loop_timestamp_seconds")
    assert loop is not None and started <= loop <= time.time() + 1
    assert named(samples, "notifykit_status_callbacks_total") == []  # serve's, not the worker's
    # The ledger's gauges: the same in every process, read when scraped.
    ledger = {
        "notifykit_ledger_up": 1,
        "notifykit_pending_deliveries": 0,
        "notifykit_oldest_pending_delivery_age_seconds": 0,
        "notifykit_unknown_deliveries": 1,
        "notifykit_live_workers": 1,
        "notifykit_open_alerts": 0,
    }
    assert {name: value(samples, name) for name in ledger} == ledger
    assert value(samples, "process_start_time_seconds") is not None

    # serve: the callback it applied (and the delivery it moved), the forged one it refused.
    text, samples = scrape(f"{serve_url}/metrics")
    assert_no_number_or_secret(text)
    callbacks = {
        (s.labels["channel"], s.labels["outcome"]): s.value
        for s in named(samples, "notifykit_status_callbacks_total")
    }
    assert callbacks == {("sms", "applied"): 1, ("", "unknown_token"): 1}
    assert {s.labels["state"]: s.value for s in named(samples, "notifykit_deliveries_total")} == {
        "delivered": 1
    }
    assert value(samples, "notifykit_deliveries_total", **sms, state="delivered") == 1
    assert named(samples, "notifykit_send_duration_seconds_count") == []  # it sent nothing
    assert {name: value(samples, name) for name in ledger} == ledger
    assert named(samples, "notifykit_worker_running") == [
        Sample("notifykit_worker_running", {}, 0.0)
    ]  # no worker runs in serve

    assert "metrics at http://127.0.0.1:" in _stop(worker)
    _stop(serve)


ROUTING: dict[str, Any] = {
    "receivers": {"page-primary": {"escalation": "primary"}},
    "route": {"receiver": "page-primary"},
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["call"], "to": ["p0"]},
            ],
            "ack_on_answer": True,
        }
    },
}


@pytest.fixture
def escalating(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> Iterator[tuple[Notifier, str]]:
    port = free_port()
    config = write_config(
        tmp_path, sim, server={"public_url": f"http://127.0.0.1:{port}", "port": port}, **ROUTING
    )
    kit = make_kit(config, clock=clock)
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server.url


def test_open_escalations_by_step_and_acknowledgements(escalating, sim, clock) -> None:
    kit, url = escalating
    for host in ("db1", "db2", "db3"):
        kit.notify("db.down", severity="critical", labels={"host": host})
    _, samples = scrape(f"{url}/metrics")
    assert value(samples, "notifykit_open_alerts") == 3
    opened = {"policy": "primary", "state": "active", "step": "0.0"}
    assert value(samples, "notifykit_open_escalations", **opened) == 3
    assert named(samples, "notifykit_acknowledgements_total") == []

    by_key = {r.key: r for r in kit.ledger.routing.escalations()}
    # db1: acknowledged by its ack link (the page's button posts to it)
    link = kit.ack_url(by_key["db.down{host=db1}"].ack_id)
    assert link is not None
    assert requests.post(link, headers={"Accept": "application/json"}, timeout=5).ok
    # db2: acknowledged by key through the Python API (Notifier.ack)
    assert len(kit.ack("db.down{host=db2}")) == 1
    _, samples = scrape(f"{url}/metrics")
    assert value(samples, "notifykit_open_escalations", **opened) == 1
    assert value(samples, "notifykit_open_alerts") == 3  # acknowledged is not resolved
    # db3: its second and last step, a call, goes out at 5 min (out of steps, nobody has
    # answered yet: done); answered, the policy acknowledges
    clock.advance(5 * 60)
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    _, samples = scrape(f"{url}/metrics")
    unanswered = {"policy": "primary", "state": "done", "step": "0.1"}
    assert [s.labels for s in named(samples, "notifykit_open_escalations")] == [unanswered]
    [call_sid] = list(sim.calls)
    assert [a.status for a in sim.complete_call(call_sid, "completed")] == [200]

    text, samples = scrape(f"{url}/metrics")
    assert_no_number_or_secret(text)
    acks = {
        (s.labels["via"], s.labels["channel"]): s.value
        for s in named(samples, "notifykit_acknowledgements_total")
    }
    assert acks == {("link", ""): 1, ("api", ""): 1, ("call", "call"): 1}
    assert named(samples, "notifykit_open_escalations") == []
    # Raised 5 min ago (resolve_timeout) and no escalation holds them open any more.
    assert value(samples, "notifykit_open_alerts") == 0


def test_a_ledger_that_cannot_be_read_is_ledger_up_0_not_a_failed_scrape(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path
) -> None:
    (tmp_path / "ledger.db").write_bytes(b"this is not a database" * 100)
    kit = make_kit(write_config(tmp_path, sim))
    with StatusServer(kit, "127.0.0.1", 0) as server:
        text, samples = scrape(f"{server.url}/metrics")
    assert value(samples, "notifykit_ledger_up") == 0
    assert named(samples, "notifykit_pending_deliveries") == []
    assert value(samples, "notifykit_worker_running") == 0  # the rest is scraped all the same
    assert "notifykit_build_info" in text


def test_every_metric_exported_is_documented(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, sim, **ROUTING))
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    kit.metrics.acknowledged("key")
    kit.metrics.callback("sms", "applied")
    with StatusServer(kit, "127.0.0.1", 0) as server:
        families = list(text_string_to_metric_families(scrape(f"{server.url}/metrics")[0]))
    ours = {f.name for f in families if f.name.startswith("notifykit_")}
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(notifykit_[a-z_]+)", docs, re.MULTILINE))
    suffix = {"counter": "_total", "info": "_info"}
    exported = {f.name + suffix.get(f.type, "") for f in families if f.name in ours}
    assert exported - documented == set()
    assert "notifykit_circuit_state" in documented  # named before it exists (docs say so)


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 another program is listening on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_worker_metrics_port_mistakes_are_one_line(
    tmp_path: Path, sim: ExotelSimulator, busy_port: int
) -> None:
    config = write_config(tmp_path, sim)
    bad = _run(config, "worker", "--drain", "--metrics-port", "nine")
    assert bad.returncode == 3
    assert "'nine' is not a port: give PORT (0-65535) or HOST:PORT" in bad.stderr
    port = busy_port
    busy = _run(config, "worker", "--drain", "--metrics-port", str(port))
    assert busy.returncode == 2, busy.stderr  # 2: nothing was sent, safe to run again
    assert busy.stderr.strip().splitlines()[-1] == (
        f"error: notifykit worker: metrics: port {port} on 127.0.0.1 is already in use "
        "(another worker's metrics?): pick another with --metrics-port [HOST:]PORT"
    )
    assert "Traceback" not in busy.stderr and sim.requests == []


def test_metrics_are_off_until_started(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator
) -> None:
    # A Notifier counts nothing until start_metrics() (nor imports prometheus_client: see
    # tests/core/test_import.py); once started, its clients' rate limiters are timed too.
    kit = make_kit()
    kit.notify("db.down", data={"host": "a"})
    assert not kit.metrics.on and kit.metrics.registry is None
    registry = kit.start_metrics()
    assert kit.start_metrics() is registry
    kit.notify("db.down", data={"host": "b"})
    sent = registry.get_sample_value(
        "notifykit_deliveries_total",
        {"channel": "sms", "channel_type": "exotel-sms", "provider": "exotel", "state": "sent"},
    )
    assert sent == 1  # the one sent after, not the one before
    waits = {"provider": "exotel", "account": "main"}
    assert registry.get_sample_value("notifykit_rate_limiter_wait_seconds_count", waits) == 1


def test_without_prometheus_client_serve_still_serves_and_metrics_says_why(tmp_path, sim):
    config = write_config(tmp_path, sim)
    code = (
        "import sys, json, urllib.request, urllib.error\n"
        "sys.modules['prometheus_client'] = None  # as if it were not installed\n"
        "from notifykit import Notifier\n"
        "from notifykit.server import StatusServer\n"
        f"kit = Notifier.from_config({str(config)!r})\n"
        "with StatusServer(kit, '127.0.0.1', 0) as server:\n"
        "    assert urllib.request.urlopen(server.url + '/healthz').status == 200\n"
        "    try:\n"
        "        urllib.request.urlopen(server.url + '/metrics')\n"
        "    except urllib.error.HTTPError as err:\n"
        "        print(err.code, json.load(err)['error'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "501 prometheus-client is not installed: pip install prometheus-client"
    )


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("9108", ("127.0.0.1", 9108)),
        ("0.0.0.0:9108", ("0.0.0.0", 9108)),
        ("[::1]:9108", ("::1", 9108)),
        ("0", ("127.0.0.1", 0)),
    ],
)
def test_metrics_addresses(given: str, address: tuple[str, int]) -> None:
    assert parse_address(given) == address


@pytest.mark.parametrize(
    ("given", "problem"),
    [("::1", "IPv6 address in brackets"), ("70000", "is not a port"), ("host:", "is not a port")],
)
def test_metrics_address_mistakes(given: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_address(given)


#: what issue 19 asks for, by the metric that exports it: (name, type, labels it must have)
#: (``circuit state`` is :data:`notifykit.metrics.CIRCUIT_STATE`, exported once a breaker exists)
ASKED: dict[str, tuple[str, str, set[str]]] = {
    "deliveries by channel, provider and state": (
        "notifykit_deliveries",
        "counter",
        {"channel", "provider", "state"},
    ),
    "send latency histograms": ("notifykit_send_duration_seconds", "histogram", {"provider"}),
    "pending": ("notifykit_pending_deliveries", "gauge", set()),
    "oldest-pending age": ("notifykit_oldest_pending_delivery_age_seconds", "gauge", set()),
    "unknown count": ("notifykit_unknown_deliveries", "gauge", set()),
    "open alerts": ("notifykit_open_alerts", "gauge", set()),
    "escalations by step": ("notifykit_open_escalations", "gauge", {"step"}),
    "acknowledgements by channel": ("notifykit_acknowledgements", "counter", {"channel"}),
    "callbacks by outcome": ("notifykit_status_callbacks", "counter", {"outcome"}),
    "rate-limiter waits": ("notifykit_rate_limiter_wait_seconds", "histogram", {"provider"}),
    "worker liveness (seen on the ledger)": ("notifykit_live_workers", "gauge", set()),
    "worker liveness (this process)": ("notifykit_worker_running", "gauge", set()),
    "worker liveness (its loop)": (
        "notifykit_worker_last_loop_timestamp_seconds",
        "gauge",
        set(),
    ),
}
#: Prometheus' naming rules (https://prometheus.io/docs/practices/naming/): base units, as a
#: suffix, in the plural; no other unit spelled
NOT_BASE_UNITS = re.compile(r"_(ms|milliseconds|minutes|hours|days|millis|kb|mb|percent)(_|$)")
TIME_WORDS = re.compile(r"(^|_)(duration|latency|age|wait|time|timestamp|elapsed)(_|$)")


def test_every_metric_the_issue_names_exists_with_conventional_names(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> None:
    """Every instrument fed once (a delivery sent and called back, an escalation acknowledged
    and one left open, a worker round), then one scrape read with Prometheus' text parser: each metric issue 19
    names is there with its type and labels, and every ``notifykit_`` family follows the naming
    conventions."""
    port = free_port()
    config = write_config(
        tmp_path, sim, server={"public_url": f"http://127.0.0.1:{port}", "port": port}, **ROUTING
    )
    kit = make_kit(config, clock=clock)
    with StatusServer(kit, "127.0.0.1", port) as server:
        kit.notify("db.down", severity="critical", labels={"host": "db1"})
        [attempt] = sim.complete()
        assert attempt.status == 200
        assert len(kit.ack("db.down{host=db1}")) == 1
        kit.notify("db.down", severity="critical", labels={"host": "db2"})  # stays open
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
        answer = requests.get(f"{server.url}/metrics", timeout=10)
    assert answer.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}

    for asked, (name, kind, labels) in ASKED.items():
        assert name in families, f"{asked}: no {name}"
        family = families[name]
        assert family.type == kind, (asked, name, family.type)
        assert family.samples, f"{asked}: {name} has no sample"
        for sample in family.samples:
            assert labels <= set(sample.labels), (asked, name, sample.labels)

    ours = {name: f for name, f in families.items() if name.startswith("notifykit_")}
    for name, family in ours.items():
        where = f"{name} ({family.type})"
        if name.endswith("_created"):  # prometheus_client's creation time of a counter
            assert name.removesuffix("_created") in ours, where
            continue
        assert re.fullmatch(r"notifykit_[a-z][a-z0-9]*(_[a-z0-9]+)*", name), where
        assert family.documentation.strip(), f"{where} has no HELP"
        assert not NOT_BASE_UNITS.search(name), f"{where}: use base units (seconds, bytes)"
        assert family.type in ("counter", "gauge", "histogram", "info"), where
        if family.type == "counter":
            assert all(s.name in (f"{name}_total", f"{name}_created") for s in family.samples)
        else:
            assert not name.endswith("_total"), f"{where}: _total is for counters"
        if family.type == "histogram":
            assert name.endswith("_seconds"), f"{where}: a histogram here measures time"
            buckets = [s for s in family.samples if s.name == f"{name}_bucket"]
            assert buckets and any(s.labels["le"] == "+Inf" for s in buckets), where
        if TIME_WORDS.search(name.removeprefix("notifykit_")):
            assert name.endswith("_seconds"), f"{where}: a time is in seconds, named so"
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), where
        for sample in family.samples:
            for label in sample.labels:
                assert re.fullmatch(r"[a-z][a-z0-9_]*", label), (where, label)
                assert label not in ("le", "quantile") or family.type == "histogram", where
    assert "notifykit_build_info" in answer.text
