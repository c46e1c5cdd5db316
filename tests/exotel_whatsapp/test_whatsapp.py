"""The ``exotel-whatsapp`` channel over real HTTP: a template message to the simulator's
``POST /v2/accounts/<sid>/messages``, its faults mapped to honest outcomes, and the recipient's
"Acknowledge" button reply, POSTed by the simulator to ``notifykit serve``'s
``/exotel/whatsapp/<secret>``, acknowledging the escalation end to end."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit import Notifier
from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.models import Fault
from tests.delivery.conftest import (
    PHONES,
    TOKEN,
    free_port,
    make_kit,
    sim,
    wait_until,
    write_config,
)
from tests.server.support import Serve, acknowledgements

__all__ = ["make_kit", "sim"]

SECRET = "wa-s3cr3t-" + "x" * 22
WA = {
    "type": "exotel-whatsapp",
    "account": "main",
    "from": "+918047112345",
    "template": "alert_page",
    "language": "en",
    "variables": ["text", "severity"],
    "webhook_secret": "${NK_WA_SECRET}",
}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NK_WA_SECRET", SECRET)


def config(tmp_path: Path, sim: ExotelSimulator, **sections: Any) -> Path:
    channels = {"wa": dict(WA), **sections.pop("channels", {})}
    defaults = {"channels": ["wa"], "to": ["p0"], "template": "default"}
    return write_config(tmp_path, sim, channels=channels, defaults=defaults, **sections)


def admin(sim: ExotelSimulator, method: str, path: str, **body: Any) -> Any:
    answer = requests.request(method, f"{sim.admin_url}{path}", json=body or None, timeout=15)
    assert answer.status_code == 200, answer.text
    return answer.json()


def messages(sim: ExotelSimulator) -> dict[str, Any]:
    found: dict[str, Any] = admin(sim, "GET", "/whatsapp")["messages"]
    return found


def test_a_template_message_is_sent_and_its_id_kept(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    kit = make_kit(config(tmp_path, sim))
    report = kit.notify("db.down", severity="critical", channels=["wa"], to=["p0"])
    [delivery] = report.deliveries
    assert delivery.state == "sent", delivery
    [(sid, record)] = messages(sim).items()
    assert delivery.provider_id == sid
    assert record["to"] == PHONES[0] and record["from"] == "+918047112345"
    template = record["template"]
    assert template["name"] == "alert_page" and template["language"] == {"code": "en"}
    body, button = template["components"]
    assert [p["type"] for p in body["parameters"]] == ["text", "text"]
    assert body["parameters"][1]["text"] == "critical"
    assert "\n" not in body["parameters"][0]["text"]
    assert button == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "0",
        "parameters": [{"type": "payload", "payload": "notifykit-ack"}],
    }
    [request] = [r for r in sim.requests if r.path.startswith("/v2/accounts/")]
    assert request.headers.get("Content-Type") == "application/json"
    assert json.loads(request.body)["whatsapp"]["messages"][0]["to"] == PHONES[0]


def test_the_template_name_and_language_can_come_from_the_notifykit_template(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "db_page.sms.j2").write_text("DB {{ severity }}\nis down", encoding="utf-8")
    channel = {k: v for k, v in WA.items() if k != "template"}
    path = config(
        tmp_path,
        sim,
        channels={"wa": channel},
        templates={
            "directory": str(directory),
            "db_page": {"whatsapp_template": "db_page_v2", "whatsapp_language": "hi"},
        },
    )
    kit = make_kit(path)
    report = kit.notify("db.down", severity="critical", template="db_page", channels=["wa"])
    [delivery] = report.deliveries
    assert delivery.state == "sent", delivery
    [record] = messages(sim).values()
    template = record["template"]
    assert template["name"] == "db_page_v2" and template["language"] == {"code": "hi"}
    assert template["components"][0]["parameters"][0]["text"] == "DB critical is down"
    # a notifykit template naming no WhatsApp template, on a channel naming none: refused
    # before anything is sent
    with pytest.raises(Exception, match="names no WhatsApp template"):
        kit.notify("db.down", severity="critical", template="default", channels=["wa"])
    assert len(messages(sim)) == 1


def test_bad_credentials_fail_and_are_not_resent(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    kit = make_kit(config(tmp_path, sim))
    sim.revoke_credentials()
    [delivery] = kit.notify("db.down", severity="critical", channels=["wa"], to=["p0"]).deliveries
    assert delivery.state == "failed", delivery
    assert "401" in (delivery.error or "") or "uthenticat" in (delivery.error or "")
    assert TOKEN not in (delivery.error or "")
    assert messages(sim) == {}


def test_a_template_exotel_does_not_know_fails(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    admin(sim, "POST", "/whatsapp/templates", approved=["other_template"])
    kit = make_kit(config(tmp_path, sim))
    [delivery] = kit.notify("db.down", severity="critical", channels=["wa"], to=["p0"]).deliveries
    assert delivery.state == "failed", delivery
    assert "alert_page" in (delivery.error or "") and "approved" in (delivery.error or "")


def test_a_server_error_after_the_request_is_unknown_never_resent(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    sim.inject(Fault(status=500, path="/messages"), times=5)
    kit = make_kit(config(tmp_path, sim))
    [delivery] = kit.notify("db.down", severity="critical", channels=["wa"], to=["p0"]).deliveries
    assert delivery.state == "unknown", delivery
    assert len([r for r in sim.requests if r.path.startswith("/v2/accounts/")]) == 1


# -- the Acknowledge button, end to end through notifykit serve -------------------------------


def escalation_config(tmp_path: Path, sim: ExotelSimulator, port: int) -> Path:
    return config(
        tmp_path,
        sim,
        server={"public_url": f"http://127.0.0.1:{port}", "port": port},
        receivers={"oncall": {"escalation": "primary"}},
        route={"receiver": "oncall"},
        escalations={
            "primary": {
                "steps": [
                    {"after": "0s", "channels": ["wa"], "to": ["p0"]},
                    {"after": "5m", "channels": ["wa"], "to": ["p1"]},
                ]
            }
        },
    )


@pytest.fixture
def served(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> Iterator[tuple[Notifier, Serve]]:
    port = free_port()
    path = escalation_config(tmp_path, sim, port)
    serve = Serve(path, port, tmp=tmp_path)
    try:
        yield make_kit(path), serve
    finally:
        serve.stop()


def page(kit: Notifier, sim: ExotelSimulator) -> str:
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    wait_until(lambda: len(messages(sim)) == 1)
    [sid] = messages(sim)
    return sid


def test_the_acknowledge_button_acknowledges_the_escalation(
    served: tuple[Notifier, Serve], sim: ExotelSimulator
) -> None:
    kit, serve = served
    sid = page(kit, sim)
    [record] = kit.ledger.routing.escalations()
    assert record.state == "active"
    answer = admin(
        sim, "POST", "/whatsapp/reply", id=sid, url=f"{serve.url}/exotel/whatsapp/{SECRET}"
    )
    assert answer == {"status": 200}
    wait_until(lambda: kit.ledger.routing.escalations()[0].state == "acked")
    [record] = kit.ledger.routing.escalations()
    assert record.acked_by == "p0"
    [row] = [a for a in kit.audit() if a.action == "acknowledged"]
    assert row.path == "whatsapp" and row.actor == "p0"
    # a second press does nothing more
    again = admin(
        sim, "POST", "/whatsapp/reply", id=sid, url=f"{serve.url}/exotel/whatsapp/{SECRET}"
    )
    assert again == {"status": 200}
    assert len([a for a in kit.audit() if a.action == "acknowledged"]) == 1
    assert acknowledgements(serve.url) == {("whatsapp", "wa"): 1}
    assert SECRET not in serve.log()


def test_a_wrong_secret_is_refused_and_acknowledges_nothing(
    served: tuple[Notifier, Serve], sim: ExotelSimulator
) -> None:
    kit, serve = served
    sid = page(kit, sim)
    wrong = "wa-wr0ng-" + "y" * 23
    answer = admin(
        sim, "POST", "/whatsapp/reply", id=sid, url=f"{serve.url}/exotel/whatsapp/{wrong}"
    )
    assert answer == {"status": 404}
    forged = requests.post(f"{serve.url}/exotel/whatsapp/{wrong}", json={}, timeout=5)
    assert forged.status_code == 404
    [record] = kit.ledger.routing.escalations()
    assert record.state == "active"
    log = serve.log()
    assert wrong not in log and SECRET not in log


def test_no_secret_in_the_in_process_log(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from notifykit.server import StatusServer

    caplog.set_level(logging.DEBUG, logger="notifykit")
    caplog.set_level(logging.DEBUG, logger="notifykit_exotel")
    port = free_port()
    kit = make_kit(escalation_config(tmp_path, sim, port))
    with StatusServer(kit, "127.0.0.1", port):
        sid = page(kit, sim)
        url = f"http://127.0.0.1:{port}/exotel/whatsapp/{SECRET}"
        assert admin(sim, "POST", "/whatsapp/reply", id=sid, url=url) == {"status": 200}
        wrong = requests.post(url[:-4] + "zzzz", json={}, timeout=5)
        assert wrong.status_code == 404
    assert kit.ledger.routing.escalations()[0].state == "acked"
    # what notifykit logged (the test's own HTTP client, urllib3, logs its URLs itself)
    ours = [r for r in caplog.records if r.name.startswith("notifykit")]
    assert any("refused a WhatsApp reply" in r.getMessage() for r in ours)
    text = "\n".join(r.getMessage() for r in ours) + repr(kit.config.channels["wa"].settings)
    leaks = [line for line in text.splitlines() if SECRET[:-4] in line]
    assert not leaks, leaks


@pytest.mark.parametrize(
    ("reply_url", "secret", "expected"),
    [
        ("https://pager.example.com/exotel/whatsapp/other-s3cr3t-yyyyyyyyyy", SECRET, "must end"),
        ("https://pager.example.com/exotel/whatsapp/" + SECRET, None, "webhook_secret is not set"),
    ],
)
def test_config_check_catches_a_reply_url_that_cannot_acknowledge(
    tmp_path: Path,
    sim: ExotelSimulator,
    monkeypatch: pytest.MonkeyPatch,
    reply_url: str,
    secret: str | None,
    expected: str,
) -> None:
    from click.testing import CliRunner

    from notifykit.cli import cli

    monkeypatch.setenv("NK_WA_REPLY_URL", reply_url)
    channel = {**WA, "reply_url": "${NK_WA_REPLY_URL}"}
    if secret is None:
        channel.pop("webhook_secret")
    path = config(tmp_path, sim, channels={"wa": channel})
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 3, result.output
    assert expected in result.output
    assert SECRET not in result.output and "other-s3cr3t" not in result.output


def test_config_check_passes_a_matching_reply_url(
    tmp_path: Path, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from notifykit.cli import cli

    monkeypatch.setenv("NK_WA_REPLY_URL", "https://pager.example.com/exotel/whatsapp/" + SECRET)
    path = config(tmp_path, sim, channels={"wa": {**WA, "reply_url": "${NK_WA_REPLY_URL}"}})
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


def test_the_reply_url_is_sent_as_status_callback(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://pager.example.com/exotel/whatsapp/" + SECRET
    monkeypatch.setenv("NK_WA_REPLY_URL", url)
    kit = make_kit(
        config(tmp_path, sim, channels={"wa": {**WA, "reply_url": "${NK_WA_REPLY_URL}"}})
    )
    [delivery] = kit.notify("db.down", severity="critical", channels=["wa"]).deliveries
    assert delivery.state == "sent"
    [record] = messages(sim).values()
    assert record["status_callback"] == url
    assert SECRET not in repr(kit.config.channels["wa"])


def test_a_dropped_connection_after_the_request_is_unknown(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    sim.inject(Fault(drop=True, path="/messages"), times=5)
    kit = make_kit(config(tmp_path, sim))
    [delivery] = kit.notify("db.down", severity="critical", channels=["wa"]).deliveries
    assert delivery.state == "unknown", delivery
    assert len([r for r in sim.requests if r.path.startswith("/v2/accounts/")]) == 1


def test_kyc_pending_fails(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    sim.inject(Fault(status=403, code=340030, message="Your account is not yet KYC compliant"))
    kit = make_kit(config(tmp_path, sim))
    [delivery] = kit.notify("db.down", severity="critical", channels=["wa"]).deliveries
    assert delivery.state == "failed" and "KYC" in (delivery.error or ""), delivery


def test_other_replies_and_bad_bodies_acknowledge_nothing(
    served: tuple[Notifier, Serve], sim: ExotelSimulator
) -> None:
    kit, serve = served
    sid = page(kit, sim)
    url = f"{serve.url}/exotel/whatsapp/{SECRET}"
    other = admin(sim, "POST", "/whatsapp/reply", id=sid, url=url, payload="snooze")
    assert other == {"status": 200}
    assert requests.post(url, data=b"not json", timeout=5).status_code == 400
    unknown = {
        "whatsapp": {
            "messages": [
                {
                    "context": {"id": "nope"},
                    "content": {"type": "button", "button": {"payload": "notifykit-ack"}},
                }
            ]
        }
    }
    answer = requests.post(url, json=unknown, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"acknowledged": 0}
    assert kit.ledger.routing.escalations()[0].state == "active"


def test_on_postgresql_the_button_acknowledges_once(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> None:
    from notifykit.server import StatusServer
    from tests.services import postgres_schema

    port = free_port()
    with postgres_schema() as store:
        path = escalation_config(tmp_path, sim, port)
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["store"] = store
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        kit = make_kit(path)
        with StatusServer(kit, "127.0.0.1", port):
            sid = page(kit, sim)
            url = f"http://127.0.0.1:{port}/exotel/whatsapp/{SECRET}"
            for _ in range(2):  # Exotel retrying the webhook: acknowledged once
                assert admin(sim, "POST", "/whatsapp/reply", id=sid, url=url) == {"status": 200}
            record = kit.ledger.routing.escalations()[0]
            assert (record.state, record.acked_by, record.acked_via) == ("acked", "p0", "whatsapp")
            assert len([a for a in kit.audit() if a.action == "acknowledged"]) == 1
        kit.close()
