"""What a webhook post carries: the notifykit body (event, severity, labels, data, the rendered
text, the alert key, the delivery id, the ack URL when there is one), the chat services' shapes,
the Idempotency-Key, the configured headers, and a signature a receiver can check."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_webhook import verify
from notifykit_webhook.fake import FakeReceiver
from tests.webhook.conftest import AUTH, SECRET, write_config

ESCALATION: dict[str, Any] = {
    "server": {"public_url": "https://notifykit.example.com"},
    "receivers": {"page": {"escalation": "primary"}},
    "route": {"receiver": "page", "group_by": ["host"]},
    "escalations": {"primary": {"steps": [{"after": "0s", "channels": ["hook"], "to": ["ops"]}]}},
}


def test_the_notifykit_body(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.sms.j2").write_text("{{ event }} on {{ labels.host }}: ack {{ ack_url }}")
    routing = copy.deepcopy(ESCALATION)
    routing["receivers"]["page"]["template"] = "page"
    kit = make_kit(write_config(tmp_path, receiver.url, **routing))
    report = kit.notify("db.down", severity="critical", labels={"host": "db9"}, data={"lag": 300})
    [delivery] = report.deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    [post] = receiver.posts
    body = post.json()
    ack = body.pop("ack_url")
    assert ack.startswith("https://notifykit.example.com/ack/")
    assert body == {
        "version": 1,
        "event": "db.down",
        "severity": "critical",
        "status": "firing",
        "labels": {"host": "db9"},
        "data": {"lag": 300},
        "text": f"db.down on db9: ack {ack}",
        "alert_key": report.key,
        "delivery_id": delivery.id,
        "recipient": {"name": "ops", "address": "#ops"},
        "channel": "hook",
    }
    assert post.idempotency_key == delivery.id
    assert post.headers["content-type"] == "application/json"
    assert post.headers["authorization"] == AUTH
    assert post.headers["user-agent"].startswith("notifykit-webhook/")
    assert (post.method, post.path) == ("POST", "/hook")


def test_a_direct_notification_has_no_alert_key_or_ack_url(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url))
    kit.notify("db.down", to="ops", channels="hook", data={"host": "db1"})
    body = receiver.posts[0].json()
    assert (body["alert_key"], body["ack_url"], body["status"], body["labels"]) == (
        None,
        None,
        None,
        {},
    )
    assert body["text"] and "db.down" in body["text"]


def test_a_worker_posts_what_was_planned(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    # The routing variables travel in the ledger (the options prepare() chose), so a worker
    # in another process, hours later, posts the same body notify() would have.
    kit = make_kit(write_config(tmp_path, receiver.url, **ESCALATION))
    submission = kit.submit("db.down", severity="critical", labels={"host": "db9"})
    kit.close()
    worker_kit = make_kit(write_config(tmp_path, receiver.url, **ESCALATION))
    worker_kit.worker(threads=1, poll=0.05).run(drain=True)
    [post] = receiver.posts
    body = post.json()
    assert body["labels"] == {"host": "db9"}
    assert body["alert_key"] == submission.key
    assert body["ack_url"].startswith("https://notifykit.example.com/ack/")


def test_the_signature_is_over_the_raw_body(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url))
    kit.notify("db.down", data={"host": "db1", "note": "नमस्ते"})
    [post] = receiver.posts
    assert post.verified
    assert verify(SECRET, post.signature, post.body)
    assert not verify("another-secret", post.signature, post.body)
    assert not verify(SECRET, post.signature, post.body.replace(b"db1", b"db2"))
    t = int(post.signature.split(",")[0].removeprefix("t="))  # type: ignore[union-attr]
    assert not verify(SECRET, post.signature, post.body, now=t + 301)  # too old: replayed
    assert verify(SECRET, post.signature, post.body, now=t + 299)
    assert json.loads(post.body)["data"]["note"] == "नमस्ते"  # UTF-8, not escaped


@pytest.mark.parametrize("shape", ["slack", "mattermost"])
def test_the_slack_shape(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path, shape: str
) -> None:
    path = write_config(tmp_path, receiver.url, channel={"body": shape, "secret": None})
    kit = make_kit(path)
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    [post] = receiver.posts
    assert delivery.state is DeliveryState.SENT
    assert list(post.json()) == ["text"] and "db.down" in post.json()["text"]
    assert post.signature is None  # no secret, no signature
    assert post.idempotency_key == delivery.id


def test_the_teams_shape(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url, channel={"body": "teams"}))
    kit.notify("db.down", data={"host": "db1"})
    body = receiver.posts[0].json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.2")
    [block] = card["body"]
    assert block["type"] == "TextBlock" and block["wrap"] is True and "db.down" in block["text"]
    assert receiver.posts[0].verified  # a secret given: signed all the same


def test_a_chat_shape_refuses_an_empty_text_before_anything_is_sent(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    from notifykit.errors import TemplateRenderError

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "blank.sms.j2").write_text("{{ '' }}")
    kit = make_kit(write_config(tmp_path, receiver.url, channel={"body": "slack"}))
    with pytest.raises(TemplateRenderError, match="empty text, which a slack webhook refuses"):
        kit.notify("db.down", template="blank")
    assert receiver.posts == []
