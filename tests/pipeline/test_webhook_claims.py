"""An Alertmanager alert is never lost to its own idempotency claim: a process killed while it
routes the alert (SIGKILL, after the claim would once have been committed) leaves no claim behind,
so Alertmanager's retry routes it and the person is paged.

The process is held inside the routing transaction by a channel whose ``prepare`` waits at a gate
on its second call (the first is the check made before anything is stored; the second plans the
escalation's first step inside the transaction), then killed there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from tests.delivery.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "routing" / "fixtures" / "alertmanager_webhook_v4.json"

GATE_PLUGIN = """
import os, time
from pathlib import Path
from notifykit import hookimpl
from notifykit.channels import ChannelType, DeliveryResult

GATE = Path(os.environ["NK_GATE"])
calls = []

class Gate:
    def prepare(self, message):
        calls.append(1)
        if len(calls) == 2:  # inside the routing transaction: wait there to be killed
            (GATE / "entered").write_text("x")
            deadline = time.monotonic() + 30
            while not (GATE / "open").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return message

    def send(self, message, recipients):
        (GATE / "sent").write_text(str(len(recipients)))
        return [DeliveryResult.sent(r, provider_id="gate-1") for r in recipients]

class Plugin:
    @hookimpl
    def register_channel_types(self, register):
        register(ChannelType(name="gate", factory=lambda settings, context: Gate(),
                             kind="sms", template_suffix="sms"))
"""

SCRIPT = """
import sys
sys.path.insert(0, {gate_dir!r})
from gate_plugin import Plugin
from notifykit import Notifier
from notifykit.plugins import get_plugin_manager
pm = get_plugin_manager()
pm.register(Plugin(), "gate")
kit = Notifier.from_config({config!r}, plugin_manager=pm)
print(kit.alertmanager(open({body!r}, "rb").read()))
"""


def test_a_process_killed_while_routing_leaves_no_claim_and_the_retry_pages(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "gate_plugin.py").write_text(GATE_PLUGIN)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.sms.j2").write_text("{{ event }} on {{ labels.host }}")
    config = tmp_path / "notifykit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": "ledger.db",
                "channels": {"pager": {"type": "gate"}},
                "recipients": {"asha": {"phone": "+919876543210"}},
                "templates": {"directory": str(templates)},
                "defaults": {"channels": ["pager"], "to": ["asha"], "template": "page"},
                "receivers": {"page": {"escalation": "now"}},
                "route": {"receiver": "page"},
                "escalations": {
                    "now": {"steps": [{"after": "0s", "channels": ["pager"], "to": ["asha"]}]}
                },
            }
        )
    )
    # one firing alert (the fixture's first), as Alertmanager posts it
    payload = json.loads(FIXTURE.read_text())
    payload["alerts"] = payload["alerts"][:1]
    body = tmp_path / "body.json"
    body.write_text(json.dumps(payload))
    env = {
        **os.environ,
        "NK_GATE": str(gate),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
    }
    code = SCRIPT.format(gate_dir=str(gate), config=str(config), body=str(body))
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: (gate / "entered").exists() or child.poll() is not None, timeout=30)
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGKILL)  # dies inside the routing transaction
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)  # reaped, its pipes closed
    assert not (gate / "sent").exists()
    (gate / "open").write_text("x")  # the gate stays open for the retry
    # Alertmanager retries: the alert is routed (not a duplicate) and the person is paged
    retry = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert retry.returncode == 0, retry.stderr
    assert "'duplicate': False" in retry.stdout, retry.stdout
    assert (gate / "sent").read_text() == "1"
    # and a further retry is a duplicate: the claim committed with its routing
    again = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert "'duplicate': True" in again.stdout, again.stdout
