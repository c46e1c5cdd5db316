"""Hostile input to the status server, over real HTTP (issue 19): JSON too deep is 400 on every
endpoint, not a 500 from a RecursionError; callbacks for message ids the ledger has not
recorded are kept small, few and briefly, per token; a callback token expires a while after its
batch ended."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, Clock
from tests.server.support import free_port, serve_config

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def served(
    tmp_path: Path,
    sim: ExotelSimulator,
    make_kit: Callable[..., Notifier],
    clock: Clock,
) -> Iterator[tuple[Notifier, StatusServer, Path]]:
    port = free_port()
    config = serve_config(
        tmp_path,
        sim,
        port,
        webhook_token="none",
        unknown_callbacks=5,
        unknown_callbacks_keep="1h",
        callback_token_ttl="1d",
    )
    kit = make_kit(config, clock=clock)
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server, tmp_path / "ledger.db"


def _sms(kit: Notifier, sim: ExotelSimulator) -> tuple[str, str, str]:
    """``(notification id, callback URL, Sid)`` of one SMS sent."""
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    return (
        report.id,
        sim.requests[-1].form["StatusCallback"][0],
        str(report.deliveries[0].provider_id),
    )


def test_deep_json_is_400_on_every_endpoint(served, sim):
    kit, server, _ = served
    _, url, _ = _sms(kit, sim)
    json_type = {"Content-Type": "application/json"}
    webhook = requests.post(f"{server.url}/alertmanager", data=DEEP, headers=json_type, timeout=10)
    callback = requests.post(url, data=DEEP, headers=json_type, timeout=10)
    for answer in (webhook, callback):
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": "JSON nested deeper than 32 levels"}
    # JSON as deep as a real payload still goes through to the parser
    shallow = requests.post(
        f"{server.url}/alertmanager", data=b'{"version": "4", "alerts": [[[]]]}', timeout=10
    )
    assert shallow.status_code == 400 and "nested" not in shallow.text


def _orphans(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT callback_token, LENGTH(provider_id) + LENGTH(COALESCE(detail, '')) "
            "+ LENGTH(COALESCE(provider_status, '')) + LENGTH(COALESCE(info, '')) "
            "FROM status_events WHERE delivery_id IS NULL ORDER BY id"
        ).fetchall()
    return [(str(token), int(size)) for token, size in rows]


def test_forged_callbacks_for_unknown_ids_are_kept_small_few_and_briefly(served, sim, clock):
    """60 forged callbacks of ~900 kB each grew the ledger from 196 kB to 66 MB."""
    kit, _server, db = served
    nid, url, sid = _sms(kit, sim)
    _, other_url, _ = _sms(kit, sim)
    other_token = urlsplit(other_url).path.rsplit("/", 1)[1]
    # a callback faster than our write of its id, on another batch: kept before the flood...
    early = {"SmsSid": "early-one", "Status": "sent"}
    assert requests.post(other_url, data=early, timeout=10).status_code == 200
    big = "x" * 900_000
    for n in range(60):
        forged = {"SmsSid": f"forged-{n}-{big[:200]}", "Status": "failed", "DetailedStatus": big}
        assert requests.post(url, data=forged, timeout=10).status_code == 200
    kept = _orphans(db)
    # ...and still kept after it: the bound is per token, so one batch's forger cannot push
    # another batch's early callbacks out
    assert [token for token, _ in kept].count(other_token) == 1
    kept = [k for k in kept if k[0] != other_token]
    assert len(kept) == 5  # server.unknown_callbacks, the newest
    assert all(size < 2_000 for _, size in kept), kept
    assert db.stat().st_size < 2_000_000
    with sqlite3.connect(db) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT provider_id FROM status_events WHERE delivery_id IS NULL "
                "AND provider_id != 'early-one'"
            )
        ]
    assert all(
        i.startswith(("forged-55-", "forged-56-", "forged-57-", "forged-58-", "forged-59-"))
        for i in ids
    )
    # the genuine delivery is untouched, and its own callback still applies
    assert requests.post(url, data={"SmsSid": sid, "Status": "sent"}, timeout=10).status_code == 200
    [delivery] = kit.report(nid).deliveries
    assert delivery.state is DeliveryState.DELIVERED
    # kept for server.unknown_callbacks_keep: an hour later, the next one sweeps them away
    clock.advance(3601)
    requests.post(other_url, data={"SmsSid": "another", "Status": "sent"}, timeout=10)
    assert [token for token, _ in _orphans(db)] == [other_token]


def test_a_token_expires_after_its_batch_ended(served, sim, clock):
    kit, _server, _ = served
    nid, url, sid = _sms(kit, sim)
    assert requests.post(url, data={"SmsSid": sid, "Status": "sent"}, timeout=10).status_code == 200
    clock.advance(86_000)  # within callback_token_ttl (1 day) of the final state: a late one
    assert requests.post(url, data={"SmsSid": sid, "Status": "sent"}, timeout=10).status_code == 200
    clock.advance(1_000)
    expired = requests.post(url, data={"SmsSid": sid, "Status": "failed"}, timeout=10)
    assert expired.status_code == 410
    [delivery] = kit.report(nid).deliveries
    assert delivery.state is DeliveryState.DELIVERED and len(delivery.events) == 2


def test_a_token_whose_batch_is_not_final_does_not_expire(served, sim, clock):
    kit, _server, _ = served
    _, url, sid = _sms(kit, sim)  # sent, never delivered
    clock.advance(30 * 86_400)
    assert requests.post(url, data={"SmsSid": sid, "Status": "sent"}, timeout=10).status_code == 200
