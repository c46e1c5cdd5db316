"""`import notifykit` stays light: HTTP, YAML, Jinja2 and the Exotel plugin load on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import notifykit

HEAVY = (
    "requests",
    "yaml",
    "jinja2",
    "click",
    "notifykit_exotel",
    "phonenumbers",
    "pluggy",
    "prometheus_client",
)


def test_import_notifykit_imports_nothing_heavy():
    code = (
        "import sys, notifykit\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_notify_api_imports_no_http_templates_cli_or_asyncio():
    # What an application writes at the top of a module: notify() must not drag in the HTTP
    # client, Jinja2, click or asyncio (only anotify() needs it) before the first notification.
    code = (
        "import sys\n"
        "from notifykit import Notifier, NotifyHandler, anotify, notify\n"
        "heavy = ('asyncio', 'requests', 'jinja2', 'click', 'notifykit_exotel')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_public_names_resolve_lazily():
    for name in notifykit.__all__:
        assert getattr(notifykit, name) is not None
    assert notifykit.Notifier.__module__ == "notifykit.notifier"
    assert "NotifyHandler" in dir(notifykit)


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        notifykit.nope  # noqa: B018


# Modules a first dry run must not import (each made lazy for the start-up time of issue 9): the
# SQL ledger and its routing store, the worker, the loader of the routing sections and what only
# it needs (time intervals, inhibition, dedup, Alertmanager webhooks), the status server, Celery,
# the shared limiters' backends, the XML parser of Exotel's error bodies, the HTTP stack, and
# difflib ("did you mean"), and prometheus_client (metrics are off until started). Issue 20:
# libphonenumber (an Indian mobile number in E.164 is checked by notifykit.text.phone), and the
# Exotel client's parsers and result classes (a dry run builds a client, reads no answer);
# importlib.metadata and the email package (the plugins' entry points and libphonenumber's
# version are read by notifykit._dists), routing.explain, the plugins' doctor checks, the
# exotel-whatsapp channel, the HTTP layer (made with the client's first request), and the
# pipeline's stages a stateless notify() does not use (groups, escalations, due work, status,
# explanations, heartbeats), the escalation policies (a receiver is declared apart), and what
# a doctor check returns (a check is registered without it).
NOT_IN_A_DRY_RUN = (
    "phonenumbers",
    "notifykit_exotel.parsers",
    "notifykit_exotel.models",
    "notifykit.ledger.base",
    "notifykit.ledger.state",
    "notifykit.ledger.sqlite",
    "notifykit.delivery.worker",
    "notifykit.routing.config",
    "notifykit.routing.timeintervals",
    "notifykit.routing.inhibit",
    "notifykit.routing.dedup",
    "notifykit.routing.alertmanager",
    "notifykit.server",
    "notifykit.celery",
    "notifykit.limits.redis",
    "notifykit.limits.postgres",
    "defusedxml",
    "requests",
    "urllib3",
    "sqlite3",
    "concurrent.futures",
    "zoneinfo",
    "asyncio",
    "uuid",
    "difflib",
    "prometheus_client",
    "importlib.metadata",
    "email",
    "notifykit.routing.explain",
    "notifykit.routing.silences",
    "notifykit_exotel.doctor",
    "notifykit_msg91.doctor",
    "notifykit_twilio.doctor",
    "notifykit_exotel.whatsapp",
    "notifykit.http",
    "notifykit_exotel.transport",
    "notifykit.routing.escalation",
    "notifykit._findings",
    "notifykit.pipeline.escalate",
    "notifykit.pipeline.groups",
    "notifykit.pipeline.due",
    "notifykit.pipeline.status",
    "notifykit.pipeline.explain",
    "notifykit.pipeline.heartbeats",
    "notifykit.ledger.heartbeats",
)


def test_a_first_dry_run_imports_only_what_it_uses(tmp_path: Path) -> None:
    # What the start-up benchmark times: an events:-only config (implicit routes), one Exotel
    # SMS channel, a template with a DLT pattern, notify() through the routing.
    (tmp_path / "alert.sms.j2").write_text("ALERT {{ host }} is down. -ACME")
    (tmp_path / "notifykit.yaml").write_text(
        "defaults: {channels: [sms], template: alert, to: [alice]}\n"
        "accounts:\n"
        "  main: {provider: exotel, sid: ACx, token: tok, base_url: 'http://127.0.0.1:9'}\n"
        "channels:\n"
        "  sms: {type: exotel-sms, account: main, senders: {default: {from: NKALRT}}}\n"
        "recipients: {alice: {phone: '+919876543210'}}\n"
        "templates: {directory: '.', alert: {dlt_pattern: 'ALERT {#var#} is down. -ACME'}}\n"
        "events: {db.down: {severity: critical}}\n"
    )
    code = (
        "import sys, notifykit\n"
        "kit = notifykit.Notifier.from_config('notifykit.yaml', dry_run=True)\n"
        "report = kit.notify('db.down', data={'host': 'db1'})\n"
        "assert [d.state.value for d in report.deliveries] == ['pending'], report\n"
        "assert report.messages == {'sms': 'ALERT db1 is down. -ACME'}, report.messages\n"
        f"print(','.join(m for m in {NOT_IN_A_DRY_RUN!r} if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYKIT_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_lazy_packages_still_export_every_name() -> None:
    # notifykit.routing, notifykit.ledger and notifykit.delivery (and its former name,
    # notifykit.worker) import their names on first use; each listed name resolves, to the
    # object its module defines.
    import notifykit.delivery
    import notifykit.ledger
    import notifykit.routing
    import notifykit.worker
    from notifykit.ledger.base import Change, Outcome
    from notifykit.routing.explain import explain

    assert notifykit.worker.Worker is notifykit.delivery.Worker
    for package in (notifykit.routing, notifykit.ledger, notifykit.delivery, notifykit.worker):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
    assert notifykit.ledger.Outcome is Outcome and notifykit.ledger.Change is Change
    # the function, not the module of the same name (imported above)
    assert notifykit.routing.explain is explain and callable(notifykit.routing.explain)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        notifykit.routing.nope  # noqa: B018
    # submodules are attributes, as when the packages imported them eagerly
    code = (
        "import notifykit.routing, notifykit.ledger, notifykit.delivery\n"
        "print(notifykit.routing.timeintervals.TimeInterval.__name__,"
        " notifykit.ledger.sqlite.SqliteLedger.__name__, notifykit.delivery.retry.__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["TimeInterval", "SqliteLedger", "notifykit.delivery.retry"]


def test_a_lazy_module_is_imported_on_its_first_attribute_lookup() -> None:
    code = (
        "import sys\n"
        "from notifykit._lazy import lazy_module\n"
        "calendar = lazy_module('calendar')\n"
        "before = 'calendar' in sys.modules\n"
        "print(before, calendar.isleap(2024), 'calendar' in sys.modules, repr(calendar))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split(" ", 3) == ["False", "True", "True", "<lazy module 'calendar'>\n"]
