"""Sending through the fake MSG91 over real HTTP: what goes on the wire (one request per
recipient carrying the rendered body, the DLT template id and entity id, the authkey in its
header), the request id as the provider id, and the DLT check stopping a body that does not
match its registered text before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.errors import DltMismatchError
from notifykit.report import DeliveryState
from notifykit_msg91.fake import FakeMsg91
from tests.msg91.conftest import AUTHKEY, ENTITY_ID, TEMPLATE_ID, write_config


def test_one_request_carries_the_body_and_both_dlt_ids(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    report = kit.notify("db.down", data={"host": "db1"})
    [delivery] = report.deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    [request] = fake.requests
    assert request.path == "/api/v2/sendsms"
    assert request.headers["authkey"] == AUTHKEY
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "sender": "NKALRT",
        "route": "4",
        "unicode": 0,
        "DLT_TE_ID": TEMPLATE_ID,
        "PE_ID": ENTITY_ID,
        "sms": [
            {"message": "ALERT CRITICAL: database db1 is down. -ACME Ops", "to": ["919876543210"]}
        ],
    }
    assert delivery.provider_id == request.request_id
    assert delivery.info["dlt"] == "match"


def test_each_recipient_gets_its_own_request_and_request_id(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    report = kit.notify("db.down", to=["alice", "bob"], data={"host": "db1"})
    assert [d.state for d in report.deliveries] == [DeliveryState.SENT] * 2
    assert sorted(n for r in fake.requests for n in r.numbers) == ["919876543210", "919876543211"]
    ids = {d.provider_id for d in report.deliveries}
    assert ids == {r.request_id for r in fake.requests} and len(ids) == 2


def test_a_hindi_body_is_sent_as_unicode(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    pattern = "चेतावनी {#var#}: डेटाबेस {#var#} बंद है"
    path = write_config(
        tmp_path,
        fake.base_url,
        template={"dlt_pattern": pattern, "dlt_template_id": "1207160000000000001"},
        text="चेतावनी {{ severity }}: डेटाबेस {{ data.host }} बंद है",
    )
    [delivery] = make_kit(path).notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    assert fake.requests[0].json()["unicode"] == 1
    assert delivery.info["encoding"] == "UCS-2"


def test_a_body_that_does_not_match_its_dlt_text_is_stopped_before_sending(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path, fake.base_url, text="ALERT {{ severity }}: db {{ data.host }} down. -ACME Ops"
    )
    kit = make_kit(path)
    with pytest.raises(DltMismatchError, match="does not match its DLT template"):
        kit.notify("db.down", data={"host": "db1"})
    assert fake.requests == []


def test_a_variable_over_30_characters_is_stopped_before_sending(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    with pytest.raises(DltMismatchError, match="over the DLT limit of 30"):
        kit.notify("db.down", data={"host": "a-very-long-host-name.example.internal"})
    assert fake.requests == []


def test_a_template_without_a_dlt_template_id_is_stopped_before_sending(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    path = write_config(tmp_path, fake.base_url, template={"dlt_template_id": None})
    kit = make_kit(path)
    with pytest.raises(DltMismatchError, match=r"templates\.db_down\.dlt_template_id"):
        kit.notify("db.down", data={"host": "db1"})
    assert fake.requests == []


def test_without_a_dlt_pattern_it_sends_and_says_the_body_was_unchecked(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    path = write_config(tmp_path, fake.base_url, template={"dlt_pattern": None})
    [delivery] = make_kit(path).notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    assert delivery.info["dlt"] == "unchecked: no dlt_pattern"


def test_a_dry_run_sends_nothing(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url), dry_run=True)
    report = kit.notify("db.down", data={"host": "db1"})
    assert report.deliveries and fake.requests == []


def test_a_raw_body_without_a_template_is_refused_before_sending(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    with pytest.raises(DltMismatchError, match="without a template cannot go through MSG91"):
        kit.send("sms", to=["alice"], body="DB db1 is down")
    assert fake.requests == []
