"""The heartbeats' store on SQLite and PostgreSQL (schema 7): first seen kept, the latest beat
wins, and the state moves by compare-and-set, once however many ledgers (processes) try."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from notifykit.ledger import Ledger
from notifykit.ledger.heartbeats import MISSED, OK


def test_first_seen_beats_and_compare_and_set(open_store: Callable[..., Ledger]) -> None:
    one, two = open_store().heartbeats, open_store().heartbeats
    one.configured(["backup", "etl"], 100.0)
    two.configured(["backup"], 200.0)  # another process later: the first time is kept
    rows = one.rows()
    assert rows["backup"].first_seen == 100.0 and rows["backup"].since == 100.0
    assert rows["backup"].last_beat is None and rows["backup"].state == OK

    one.beat("backup", 150.0)
    two.beat("backup", 140.0)  # a late request does not move the last beat back
    two.beat("restore", 160.0)  # a beat of a name not yet noted makes its row
    rows = two.rows(["backup", "restore"])
    assert rows["backup"].last_beat == 150.0 and rows["backup"].beats == 2
    assert rows["restore"].first_seen == 160.0 and set(rows) == {"backup", "restore"}
    assert two.rows([]) == {}

    def mark(store: object) -> bool:
        return bool(
            store.mark("backup", was=OK, state=MISSED, missed_since=150.0, now=300.0)  # type: ignore[attr-defined]
        )

    stores = [open_store().heartbeats for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(mark, stores))
    assert won.count(True) == 1
    row = one.rows(["backup"])["backup"]
    assert (row.state, row.missed_since, row.changed) == (MISSED, 150.0, 300.0)
    # back: only from the missed state it was raised for
    assert not one.mark("backup", was=MISSED, was_since=1.0, state=OK, missed_since=None, now=400)
    assert one.mark("backup", was=MISSED, was_since=150.0, state=OK, missed_since=None, now=400)
    assert one.rows(["backup"])["backup"].state == OK


def test_workers_seen(open_store: Callable[..., Ledger]) -> None:
    ledger = open_store()
    assert ledger.heartbeats.workers_seen(0.0) == (0, None)
    ledger.heartbeat("w1", "host", 1, 100.0)
    ledger.heartbeat("w2", "host", 2, 50.0)
    assert ledger.heartbeats.workers_seen(60.0) == (1, 100.0)
    assert ledger.heartbeats.workers_seen(200.0) == (0, 100.0)
