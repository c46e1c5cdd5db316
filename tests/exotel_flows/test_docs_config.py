"""docs/exotel-flows.md's config loads as written, pages through the paging flow it describes
(the simulator playing it against the status server over real HTTP) and takes a key; its
`notifykit flows` output is what the command prints for that config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests
import yaml

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit_exotel.flows_cli import flows_for
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import SID, TOKEN
from tests.exotel_flows.test_flows import paging_flow
from tests.server.support import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "exotel-flows.md"
SECRET = "d0c5-flow-secret-0123456789"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def doc_config() -> dict[str, Any]:
    config = yaml.safe_load(blocks("yaml")[0])
    assert isinstance(config, dict)
    return config


def test_the_documented_config_loads_and_its_flow_takes_a_key(
    tmp_path, sim: ExotelSimulator, monkeypatch
):
    monkeypatch.setenv("EXOTEL_SID", SID)
    monkeypatch.setenv("EXOTEL_TOKEN", TOKEN)
    monkeypatch.setenv("EXOTEL_FLOW_SECRET", SECRET)
    config = doc_config()
    port = free_port()
    config["store"] = str(tmp_path / "notifykit.db")
    config["server"]["public_url"] = f"http://127.0.0.1:{port}"
    config["accounts"]["exotel-main"]["base_url"] = sim.base_url
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    sim.add_flow("4242", paging_flow(f"http://127.0.0.1:{port}"))
    sim.queue_digits("+919876543210", "1")
    with Notifier.from_config(path) as kit, StatusServer(kit, "127.0.0.1", port):
        kit.notify("db.down", severity="critical", labels={"host": "db1"})
        [sid] = list(sim.calls)
        run = sim.wait_for_flow(sid, timeout=10)
        assert run.spoken[0].endswith(
            "Press 1 to acknowledge, 2 to send it to the next person, 3 to resolve, "
            "4 to snooze for 30 minutes."
        )
        assert run.spoken[-1] == "Done. Thank you."
        keys = kit.config.routing.escalations["primary"].call_keys
        assert (keys.action("4"), keys.snooze_for) == ("snooze", 30 * 60)
        [record] = kit.ledger.routing.escalations()
        assert (record.acked_by, record.acked_via) == ("asha", "keypress")
        answer = requests.get(
            f"http://127.0.0.1:{port}/exotel/{SECRET}/missed-call",
            params={"CallSid": "m1", "From": "09876543210", "To": "08047112345"},
            timeout=5,
        )
        assert answer.status_code == 302  # acknowledged already: nothing open for asha
        oncall = requests.get(f"http://127.0.0.1:{port}/exotel/{SECRET}/oncall", timeout=5)
        assert oncall.status_code == 200
        assert oncall.text == kit.config.recipients[kit.oncall("primary").who or ""].phone


def test_the_documented_flows_output_is_what_the_command_prints(monkeypatch):
    monkeypatch.setenv("EXOTEL_SID", SID)
    monkeypatch.setenv("EXOTEL_TOKEN", TOKEN)
    monkeypatch.setenv("EXOTEL_FLOW_SECRET", SECRET)
    from notifykit.config.loader import load_config
    from notifykit.plugins import Registry, get_plugin_manager

    config = load_config(doc_config(), registry=Registry.from_manager(get_plugin_manager()))
    urls = flows_for(config)["exotel-main"]
    [text] = [b for b in blocks("text") if "exotel-main:" in b]
    for url in urls.values():
        assert url is not None
        assert url.replace(SECRET, "<flow_secret>") in text
