"""A ``submit()`` into PostgreSQL in one round trip (two with a key, whose duplicate check reads
one row back): BEGIN, the inserts, the wake-up and COMMIT go out in psycopg's pipeline mode.
Counted as the answers the process reads from the server (strace: ``recvfrom`` calls that got
data), which were five and six before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ledger.syscalls import traced
from tests.services import postgres_schema

SCRIPT = """
from notifykit import Notifier

config = {
    "channels": {"console": {"type": "console", "stream": "stderr"}},
    "defaults": {"channels": ["console"]},
    "recipients": {"alice": {"phone": "+919876543210"}},
    "store": sys.argv[1],
}
keyed = sys.argv[2] == "key"
with Notifier.from_config(config) as kit:
    for i in range(5):
        kit.submit("disk.full", to="alice", data={"m": "x"}, key=f"w{i}" if keyed else None)
    mark()
    for i in range(20):
        kit.submit("disk.full", to="alice", data={"m": "x"}, key=f"k{i}" if keyed else None)
    mark()
"""


@pytest.mark.parametrize(("keyed", "round_trips"), [("nokey", 1), ("key", 2)])
def test_a_submit_into_postgresql_takes_one_round_trip(
    tmp_path: Path, keyed: str, round_trips: int
) -> None:
    with postgres_schema() as url:
        lines = traced(tmp_path, SCRIPT, [url, keyed], "recvfrom")
    answers = [line for line in lines if "recvfrom(" in line and "EAGAIN" not in line]
    # (a pooled connection checked after the server spoke may cost one more: slack of 2)
    assert 20 * round_trips <= len(answers) <= 20 * round_trips + 2, answers[:12]
