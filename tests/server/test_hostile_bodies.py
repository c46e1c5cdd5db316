"""Every route of the status server against hostile bodies and query strings, over real HTTP
(issue 19: "JSON depth and size limits on every endpoint, 400 not 500").

The routes are read from the app itself: a route added later (by the core or a plugin's
``register_routes``) fails :func:`test_every_route_is_in_this_test` until it is given a path
here, so "every endpoint" stays every endpoint. Each route gets, with its real tokens and
secrets (so the body is read, not refused at the door): JSON 100,000 deep and 33 deep, the
same chunked, a 5,000-digit number (``json`` raises ``ValueError`` past 4,300 digits), ``NaN``
and ``1e999``, bytes that are not UTF-8, NULs, JSON that is not an object, a body one byte over
1 MiB. None of it may be answered 5xx, none may log at ERROR (a traceback), and the server
answers ``/healthz`` after it all."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit.server.console.auth import hash_password
from notifykit.server.http import MAX_BODY, MAX_JSON_DEPTH
from notifykit_exotel.simulator import ExotelSimulator
from tests.console.conftest import ROUTING, TEST_COST
from tests.server.support import free_port, serve_config

WA_SECRET = "wa-s3cr3t-" + "x" * 22
FLOW_SECRET = "f10w-s3cret-0123456789abcdef"

DEEP = b"[" * 100_000 + b"]" * 100_000
JUST_TOO_DEEP = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
BODIES: dict[str, bytes] = {
    "deep": DEEP,
    "just too deep": JUST_TOO_DEEP,
    "deep object": b'{"a": ' * 5_000 + b"1" + b"}" * 5_000,
    "5000 digits": b'{"version": "4", "alerts": [], "n": ' + b"1" * 5_000 + b"}",
    "NaN": b'{"version": "4", "alerts": NaN}',
    "1e999": b'{"version": "4", "alerts": [{"labels": {"a": 1e999}}]}',
    "not UTF-8": b'{"version": "4", "x": "\xff\xfe"}',
    "NULs": b"\x00" * 64,
    "not an object": b"[1, 2, 3]",
    "null": b"null",
    "a bare string": b'"ack"',
    "wrong types": b'{"version": 4, "alerts": {"labels": []}, "whatsapp": {"messages": 5}}',
    "percent garbage": b"SmsSid=%ff%fe&Status=%00&CallSid=%&digits=%22%22",
    "empty": b"",
}
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
QUERIES = (
    "CallSid=%ff&From=%00&CustomField=%ff",
    "CallSid=" + "x" * 6_000,
    "CustomField=" + "%5B" * 2_000,
    "digits=" + "%22" * 100 + "&CallSid=a",
    "schedule=../../etc/passwd&CallSid=a&CallFrom=%2B9",
)


@dataclass
class Served:
    kit: Notifier
    server: StatusServer
    paths: dict[str, str]  # route pattern -> a path with its real tokens
    reads_json: set[str]  # patterns whose handler reads the body before anything refuses it


@pytest.fixture
def served(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Served]:
    monkeypatch.setenv("NK_WA_SECRET", WA_SECRET)
    monkeypatch.setenv("NK_FLOW_SECRET", FLOW_SECRET)
    port = free_port()
    config = serve_config(
        tmp_path,
        sim,
        port,
        webhook_token="none",
        sections={
            **ROUTING,
            "account": {"flow_secret": "${NK_FLOW_SECRET}"},
            "console": {"users": {"asha": {"password": hash_password("pw", cost=TEST_COST)}}},
            "heartbeats": {"nightly": {"every": "1h", "grace": "10m"}},
        },
    )
    text = config.read_text(encoding="utf-8")
    whatsapp = (
        "  wa:\n    type: exotel-whatsapp\n    account: main\n    from: '+918047112345'\n"
        "    template: alert_page\n    language: en\n    variables: [text, severity]\n"
        "    webhook_secret: ${NK_WA_SECRET}\n"
    )
    config.write_text(text.replace("channels:\n", "channels:\n" + whatsapp, 1), encoding="utf-8")
    kit = make_kit(config)
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    status_path = urlsplit(sim.requests[-1].form["StatusCallback"][0]).path
    [escalation] = kit.ledger.routing.escalations()
    ack = kit.ack_url(escalation.ack_id)
    beat = kit.heartbeat_url("nightly", with_token=True)
    assert report.id and ack and beat
    paths = {
        "/healthz": "/healthz",
        "/readyz": "/readyz",
        "/alertmanager": "/alertmanager",
        "/ack/<token>": urlsplit(ack).path,
        "/status/<token>": status_path,
        "/heartbeat/<name>/<token>": urlsplit(beat).path,
        "/console": "/console/",
        "/console/login": "/console/login",
        "/console/logout": "/console/logout",
        "/console/deliveries": "/console/deliveries",
        "/console/audit": "/console/audit",
        "/console/oncall": "/console/oncall",
        "/console/silences": "/console/silences",
        "/console/heartbeats": "/console/heartbeats",
        "/console/circuits": "/console/circuits",
        "/console/ack": "/console/ack",
        "/console/resolve": "/console/resolve",
        "/console/silence": "/console/silence",
        "/console/expire": "/console/expire",
        "/twilio/<account>/voice": "/twilio/main/voice",
        "/twilio/<account>/gather": "/twilio/main/gather",
        "/exotel/voice": "/exotel/voice",
        "/exotel/digits": "/exotel/digits",
        "/exotel/<secret>/missed-call": f"/exotel/{FLOW_SECRET}/missed-call",
        "/exotel/<secret>/oncall": f"/exotel/{FLOW_SECRET}/oncall",
        "/exotel/whatsapp/<secret>": f"/exotel/whatsapp/{WA_SECRET}",
    }
    reads_json = {
        "/alertmanager",
        "/status/<token>",
        "/exotel/whatsapp/<secret>",
        "/twilio/<account>/voice",
        "/twilio/<account>/gather",
    }
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield Served(kit, server, paths, reads_json)


def _key(pattern: str) -> str:
    """A route's pattern as :data:`Served.paths` names it: each named group as ``<name>``
    (``/exotel/<secret>/missed-call``)."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern.removesuffix("/?"))


def _routes(served: Served) -> list[tuple[str, tuple[str, ...]]]:
    return [(_key(pattern), methods) for pattern, methods in served.server.app.routes]


def test_every_route_is_in_this_test(served: Served) -> None:
    known = {key for key, _ in _routes(served)}
    assert known == set(served.paths), "give each new route a path (and a token) in this test"
    for key, path in served.paths.items():
        [matched] = [
            p for p, _ in served.server.app.routes if _key(p) == key and re.fullmatch(p, path)
        ]
        assert matched


@pytest.fixture
def errors() -> Iterator[list[logging.LogRecord]]:
    """Records at ERROR or above, or carrying a traceback, logged under ``notifykit`` and
    ``waitress`` while the test runs."""
    found: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR or record.exc_info:
                found.append(record)

    handler = Catch(logging.DEBUG)
    loggers = [logging.getLogger("notifykit"), logging.getLogger("waitress")]
    for log in loggers:
        log.addHandler(handler)
    yield found
    for log in loggers:
        log.removeHandler(handler)


def _post(url: str, body: Any, content_type: str, **headers: str) -> requests.Response:
    return requests.post(
        url, data=body, headers={"Content-Type": content_type, **headers}, timeout=30
    )


def test_hostile_bodies_on_every_route_are_never_a_5xx(
    served: Served, errors: list[logging.LogRecord]
) -> None:
    base = served.server.url
    answers: dict[tuple[str, str, str], int] = {}
    for key, methods in _routes(served):
        if "POST" not in methods:
            continue
        url = base + served.paths[key]
        for name, body in BODIES.items():
            for content_type in CONTENT_TYPES:
                answers[(key, name, content_type)] = _post(url, body, content_type).status_code
        # the depth limit holds for a chunked body too (no Content-Length to go by)
        chunked = _post(url, iter([DEEP[:50_000], DEEP[50_000:]]), "application/json")
        answers[(key, "deep, chunked", "application/json")] = chunked.status_code
    failed = {k: v for k, v in answers.items() if v >= 500}
    assert failed == {}, failed
    for key in sorted(served.reads_json):
        url = base + served.paths[key]
        for body in (DEEP, JUST_TOO_DEEP, BODIES["deep object"], iter([DEEP[:9], DEEP[9:]])):
            answer = _post(url, body, "application/json")
            assert answer.status_code == 400, (key, answer.status_code, answer.text[:200])
            assert answer.json() == {"error": TOO_DEEP}
    assert errors == [], [r.getMessage() for r in errors]
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200


def test_a_body_over_1_mib_is_413_on_every_route_that_reads_one(served: Served) -> None:
    base = served.server.url
    big = b"a" * (MAX_BODY + 1)
    for key in sorted(served.reads_json):
        answer = _post(base + served.paths[key], big, "application/json")
        assert answer.status_code == 413, (key, answer.status_code)
        chunked = _post(base + served.paths[key], iter([big[: 1 << 19], big[1 << 19 :]]), "x/y")
        assert chunked.status_code == 413, (key, chunked.status_code)


def test_hostile_query_strings_on_every_get_route_are_never_a_5xx(
    served: Served, errors: list[logging.LogRecord]
) -> None:
    base = served.server.url
    failed = {}
    for key, methods in _routes(served):
        if "GET" not in methods:
            continue
        for query in QUERIES:
            answer = requests.get(f"{base}{served.paths[key]}?{query}", timeout=30)
            # /readyz is 503 while no worker runs: that is its answer, not a failure
            if answer.status_code >= 500 and not (key == "/readyz" and answer.status_code == 503):
                failed[(key, query[:40])] = answer.status_code
    assert failed == {}
    assert errors == [], [r.getMessage() for r in errors]
