"""Failover across providers (issue 18, docs/failover.md): an Exotel account that Exotel
refuses (KYC pending, revoked credentials) hands the page to the MSG91 channel, which sends the
same DLT-registered text with its template id and entity id: the second Indian route keeps DLT
compliance. Real HTTP to the Exotel simulator and to the MSG91 fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from notifykit import DeliveryState, Notifier
from notifykit_exotel.simulator import ExotelSimulator
from notifykit_msg91.fake import FakeMsg91
from tests.msg91.conftest import ENTITY_ID, TEMPLATE_ID, write_config

EXOTEL_TOKEN = "exotel-t0ken-s3cr3t-value"


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid="ACfailover", token=EXOTEL_TOKEN) as simulator:
        yield simulator


@pytest.fixture
def config(tmp_path: Path, fake: FakeMsg91, sim: ExotelSimulator, monkeypatch) -> Path:
    monkeypatch.setenv("NK_EXOTEL_TOKEN", EXOTEL_TOKEN)
    path = write_config(tmp_path, fake.base_url)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["accounts"]["exotel"] = {
        "provider": "exotel",
        "sid": "ACfailover",
        "token": "${NK_EXOTEL_TOKEN}",
        "base_url": sim.base_url,
        "retries": 0,
    }
    data["channels"] = {
        "sms": {
            "type": "exotel-sms",
            "account": "exotel",
            "senders": {"default": {"from": "NKALRT"}},
            "dlt_entity_id": ENTITY_ID,
            "fallback": "sms-msg91",
        },
        "sms-msg91": {"type": "msg91-sms", "account": "m91"},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "refuse",
    [
        pytest.param(lambda sim: sim.set_kyc_pending(), id="kyc"),
        pytest.param(lambda sim: sim.revoke_credentials(), id="credentials"),
    ],
)
def test_exotel_refusing_the_account_hands_the_page_to_msg91_with_its_dlt_ids(
    make_kit: Callable[..., Notifier],
    config: Path,
    sim: ExotelSimulator,
    fake: FakeMsg91,
    refuse: Callable[[ExotelSimulator], None],
) -> None:
    kit = make_kit(config)
    refuse(sim)
    report = kit.notify("db.down", data={"host": "db1"})
    exotel, msg91 = report.deliveries
    assert (exotel.channel, exotel.state) == ("sms", DeliveryState.FAILED)
    assert (msg91.channel, msg91.state) == ("sms-msg91", DeliveryState.SENT)
    assert msg91.fallback_of == exotel.id
    [request] = fake.requests
    body = request.json()
    assert (body["DLT_TE_ID"], body["PE_ID"]) == (TEMPLATE_ID, ENTITY_ID)
    assert body["sms"] == [
        {"message": "ALERT CRITICAL: database db1 is down. -ACME Ops", "to": ["919876543210"]}
    ]
    assert report.ok


def test_exotel_sending_it_leaves_msg91_untouched(
    make_kit: Callable[..., Notifier], config: Path, sim: ExotelSimulator, fake: FakeMsg91
) -> None:
    kit = make_kit(config)
    report = kit.notify("db.down", data={"host": "db1"})
    assert [d.state for d in report.deliveries] == [DeliveryState.SENT, DeliveryState.SKIPPED]
    assert report.deliveries[1].standby
    assert fake.requests == []
    assert len(sim.requests) == 1
