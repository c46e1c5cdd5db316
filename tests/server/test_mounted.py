"""The status app under another WSGI server, mounted under a prefix of a host application
(issue 19: "the WSGI app stays mountable under gunicorn or anything else").

A process of its own builds the app as gunicorn's ``'notifykit.server:create_app()'`` does (the
config from ``$NOTIFYKIT_CONFIG``), mounts it at ``/notifykit`` of a host app the way Werkzeug's
``DispatcherMiddleware`` does (``SCRIPT_NAME`` gets the prefix, ``PATH_INFO`` the rest) and
serves it with the standard library's threaded ``wsgiref`` server. Over real HTTP: a status
callback at the URL the simulator was given, the ack link's page and its button, the console's
login and an acknowledgement there, ``/metrics`` through Prometheus' parser, and the host app's
own paths untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit.server.console.auth import hash_password
from notifykit_exotel.simulator import ExotelSimulator
from tests.console.conftest import PASSWORD, ROUTING, TEST_COST, csrf_of
from tests.delivery.conftest import TOKEN, Clock, free_port, wait_until
from tests.server.support import serve_config

HOST_APP = '''
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from notifykit.server import create_app

PREFIX = "/notifykit"
notifykit = create_app()  # as gunicorn 'notifykit.server:create_app()': $NOTIFYKIT_CONFIG


def host(environ, start_response):
    """A host application with the status app mounted at PREFIX (as DispatcherMiddleware)."""
    path = environ.get("PATH_INFO", "")
    if path == PREFIX or path.startswith(PREFIX + "/"):
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX
        environ["PATH_INFO"] = path[len(PREFIX):]
        return notifykit(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the host application"]


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", int(sys.argv[1]), host, Server, Quiet)
print("listening", flush=True)
server.serve_forever()
'''


class Mounted:
    def __init__(self, kit: Notifier, base: str, process: subprocess.Popen[str]) -> None:
        self.kit = kit
        self.base = base  # http://127.0.0.1:PORT
        self.url = f"{base}/notifykit"  # server.public_url
        self.process = process


@pytest.fixture
def mounted(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    clock: Clock,
) -> Iterator[Mounted]:
    port = free_port()
    config = serve_config(
        tmp_path,
        sim,
        port,
        sections={
            **ROUTING,
            "console": {"users": {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}},
        },
    )
    text = config.read_text(encoding="utf-8")
    public = f"http://127.0.0.1:{port}"
    config.write_text(text.replace(f"public_url: {public}", f"public_url: {public}/notifykit"))
    script = tmp_path / "host_app.py"
    script.write_text(HOST_APP, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        env={**os.environ, "NOTIFYKIT_CONFIG": str(config), "NK_LEDGER_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "listening", process.stderr
        kit = make_kit(config, clock=clock)
        assert kit.config.server.public_url == f"{public}/notifykit"
        yield Mounted(kit, public, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_callbacks_ack_links_and_metrics_under_the_prefix(mounted: Mounted, sim) -> None:
    kit = mounted.kit
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    callback = sim.requests[-1].form["StatusCallback"][0]
    assert callback.startswith(f"{mounted.url}/status/"), callback
    [attempt] = sim.complete()  # the simulator posts the delivered status to that URL
    assert attempt.status == 200
    [delivery] = kit.report(report.id).deliveries
    assert delivery.state is DeliveryState.DELIVERED

    [escalation] = kit.ledger.routing.escalations()
    link = kit.ack_url(escalation.ack_id)
    assert link is not None and link.startswith(f"{mounted.url}/ack/")
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and "db.down" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert requests.post(link, headers={"Accept": "application/json"}, timeout=10).ok
    [escalation] = kit.ledger.routing.escalations()
    assert (escalation.state, escalation.acked_via) == ("acked", "link")

    metrics = requests.get(f"{mounted.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    callbacks = {
        (s.labels["channel"], s.labels["outcome"]): s.value
        for s in families["notifykit_status_callbacks"].samples
        if s.name.endswith("_total")
    }
    assert callbacks == {("sms", "applied"): 1}
    assert requests.get(f"{mounted.url}/healthz", timeout=10).json() == {"ok": True}
    # the host application keeps its own paths
    assert requests.get(f"{mounted.base}/healthz", timeout=10).text == "the host application"
    assert requests.get(f"{mounted.base}/status/x", timeout=10).text == "the host application"


def test_the_console_under_the_prefix(mounted: Mounted) -> None:
    kit = mounted.kit
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    console = f"{mounted.url}/console/"
    session = requests.Session()
    session.headers["Origin"] = mounted.base
    answer = session.post(
        console + "login", data={"user": "asha", "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200 and answer.url == console, (answer.url, answer.text[:300])
    [cookie] = list(session.cookies)
    assert cookie.path == "/notifykit/console"  # scoped to the console, under the prefix
    page = session.get(console, timeout=10).text
    assert "db.down" in page
    acked = session.post(
        console + "ack",
        data={"csrf": csrf_of(page), "key": report.key},
        allow_redirects=False,
        timeout=10,
    )
    assert acked.status_code == 303, acked.text[:300]
    wait_until(lambda: kit.ledger.routing.escalations()[0].state == "acked")
    [row] = [a for a in kit.audit() if a.action == "acknowledged"]
    assert (row.path, row.actor) == ("web", "asha")
