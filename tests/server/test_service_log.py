"""The log of ``notifykit serve`` (issue 19): standard logging with a timestamp and a level on
every line, each distinct message rate-limited instead of remembered forever, tracebacks kept at
ERROR, bounded memory, and JSON lines for log shippers."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from notifykit import Notifier
from notifykit.server.logs import BURST, MAX_KEYS, MAX_MESSAGE, RateLimit, service_handler
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import PHONES, TOKEN
from tests.server.support import Serve, free_port, serve_config

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, _Clock]]:
    out = io.StringIO()
    clock = _Clock()
    handler = service_handler(lambda text: text.replace("s3cr3t-value", "***"), stream=out)
    handler.filters = [RateLimit(clock=clock)]
    log = logging.getLogger("notifykit.test-service-log")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        yield log, out, clock
    finally:
        log.removeHandler(handler)


def test_lines_have_a_time_a_level_and_the_logger(logged):
    log, out, _ = logged
    log.info("serving on %s", "http://127.0.0.1:8025")
    log.error("the ledger failed")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(
        rf"{STAMP} INFO notifykit.test-service-log: serving on http://127.0.0.1:8025", lines[0]
    )
    assert re.fullmatch(rf"{STAMP} ERROR notifykit.test-service-log: the ledger failed", lines[1])


def test_each_distinct_message_is_rate_limited_not_remembered(logged):
    log, out, clock = logged
    for n in range(100):
        log.warning("status callback for token %d rejected (404)", n)
    log.warning("another message")
    lines = out.getvalue().splitlines()
    assert len(lines) == BURST + 1  # one call site, one message: BURST of them, and the other
    clock.now += 61
    log.warning("status callback for token %d rejected (404)", 100)
    assert (
        out.getvalue()
        .splitlines()[-1]
        .endswith("token 100 rejected (404) (95 similar messages held back before this)")
    )
    for n in range(MAX_KEYS * 3):  # f-strings: every one a distinct message
        log.warning(f"distinct {n}")
    limiter = next(f for h in log.handlers for f in h.filters if isinstance(f, RateLimit))
    assert len(limiter._seen) <= MAX_KEYS


def test_a_traceback_is_kept_at_error(logged):
    log, out, _ = logged
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("POST /alertmanager failed (500)")
    text = out.getvalue()
    assert " ERROR " in text and "Traceback (most recent call last)" in text
    assert "RuntimeError: boom" in text


def test_a_huge_message_is_cut_and_secrets_scrubbed(logged):
    log, out, _ = logged
    log.warning("label value %s with token s3cr3t-value", "x" * 900_000)
    text = out.getvalue()
    assert len(text) < MAX_MESSAGE + 200 and "more characters" in text
    log.warning("token s3cr3t-value")
    assert "s3cr3t-value" not in out.getvalue() and "token ***" in out.getvalue()


@pytest.fixture
def serving(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        port = free_port()
        server = Serve(serve_config(tmp_path, sim, port), port, *args, tmp=tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_serve_logs_json_lines_rate_limited(serving):
    server = serving("--log-format", "json")
    for _ in range(40):
        answer = requests.post(f"{server.url}/status/{'A' * 22}", data={"SmsSid": "x"}, timeout=5)
        assert answer.status_code == 404
    assert server.stop() == 0
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    rejected = [r for r in records if "unknown token" in r["message"]]
    assert len(rejected) == BURST
    assert {r["level"] for r in rejected} == {"WARNING"}
    assert all(
        re.fullmatch(STAMP, r["time"]) and r["logger"] == "notifykit.status" for r in rejected
    )
    assert "A" * 22 not in server.log()


def test_serve_text_lines_have_times_and_levels(serving):
    server = serving()
    requests.post(f"{server.url}/status/{'A' * 22}", data={"SmsSid": "x"}, timeout=5)
    assert server.stop() == 0
    [line] = [x for x in server.log().splitlines() if "unknown token" in x]
    assert re.fullmatch(rf"{STAMP} WARNING notifykit.status: .*\(404\)", line), line


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1))


def test_150_webhooks_with_a_900_kb_label_leave_serves_memory_bounded(serving):
    """Issue 19: 150 webhooks with a 900 kB label took the old serve from 39 MB to 169 MB (its
    log kept every distinct warning for the life of the process). Each one here is refused
    with its own 900 kB value quoted in the warning; the process's resident memory grows by
    less than a tenth of what it was sent, the log by a few kB a message."""
    server = serving()

    def webhook(n: int) -> requests.Response:
        label = f"{n:04d}" + "x" * 900_000
        body = {
            "version": "4",
            "status": "firing",
            "receiver": "r",
            "groupKey": "g",
            "alerts": [{"status": "firing", "labels": {"alertname": "Big"}, "startsAt": label}],
        }
        return requests.post(f"{server.url}/alertmanager", json=body, timeout=30)

    for n in range(10):  # the process warmed up: imports, buffers, the first arenas
        assert webhook(n).status_code == 400
    before = _rss_kib(server.process.pid)
    for n in range(10, 160):
        answer = webhook(n)
        assert answer.status_code == 400
        assert len(answer.content) < 2_000  # the answer quotes it cut, too
    grown = _rss_kib(server.process.pid) - before
    assert grown < 13_500, f"serve grew by {grown} kB for 135 MB of webhooks"
    assert server.stop() == 0
    log = server.log()
    assert len(log) < 200_000, len(log)
    assert "similar message" in log or log.count("rejected (400)") <= BURST


def test_the_worker_logs_as_a_service_with_log_format(tmp_path, sim, make_kit):
    """``notifykit worker --log-format json`` (the systemd unit and the container of
    docs/deploy.md): a JSON object a line with time, level and logger, for every delivery it
    made, and no number or secret."""
    config = serve_config(tmp_path, sim, free_port())
    kit = make_kit(config)

    def worker() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "notifykit", "-c", str(config), "worker", "--drain",
             "--log-format", "json"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "NK_LEDGER_TOKEN": TOKEN},
        )  # fmt: skip

    # One delivery a run, so the dropped answer is the first one's whatever the threads do.
    sim.inject(Fault(drop=True))
    unknown = kit.submit("db.down", data={"host": "b"}, to="p2")
    first = worker()
    assert first.returncode == 4, first.stderr  # one unknown: exit 4, as without --log-format
    sent = kit.submit("db.down", data={"host": "c"}, to="p0")
    second = worker()
    assert second.returncode == 0, second.stderr
    stderr = first.stderr + second.stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert all(re.fullmatch(STAMP, r["time"]) for r in records), records
    deliveries = {
        r["message"].split()[1]: r for r in records if r["logger"] == "notifykit.worker.deliveries"
    }
    [unknown_delivery] = kit.report(unknown.id).deliveries
    [sent_delivery] = kit.report(sent.id).deliveries
    assert ": unknown (attempt 1)" in deliveries[unknown_delivery.id]["message"]
    assert ": sent (provider id" in deliveries[sent_delivery.id]["message"]
    assert {r["level"] for r in deliveries.values()} == {"INFO"}
    assert TOKEN not in stderr
    assert not any(phone in stderr or phone[-10:] in stderr for phone in PHONES)


def test_the_command_lines_warnings_are_remembered_boundedly():
    """A long-running command on the command line's log (``notifykit worker`` without
    ``--log-format``) shows each warning once, but remembers at most MAX_SEEN of them."""
    from notifykit.cli.logs import MAX_SEEN, LogSetup

    setup = LogSetup(verbose=False)
    try:
        log = logging.getLogger("notifykit.test-cli-log")
        for n in range(MAX_SEEN * 3):
            log.warning(f"delivery {n} went wrong")
        assert len(setup.handler.seen) == MAX_SEEN
    finally:
        setup.restore()
