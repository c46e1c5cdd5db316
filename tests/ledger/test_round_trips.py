"""A ``submit()`` into PostgreSQL in one round trip (two with a key, whose duplicate check reads
one row back): BEGIN, the inserts, the wake-up and COMMIT go out in psycopg's pipeline mode.
Counted as the answers the process reads from the server (strace: ``recvfrom`` calls that got
data), which were five and six before."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.services import postgres_schema

SCRIPT = textwrap.dedent(
    """
    import ctypes, sys
    from notifykit import Notifier

    libc = ctypes.CDLL(None)
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
        libc.syscall(24)  # sched_yield: the start mark in the trace
        for i in range(20):
            kit.submit("disk.full", to="alice", data={"m": "x"}, key=f"k{i}" if keyed else None)
        libc.syscall(24)  # the end mark
    """
)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to count round trips")
@pytest.mark.parametrize(("keyed", "round_trips"), [("nokey", 1), ("key", 2)])
def test_a_submit_into_postgresql_takes_one_round_trip(
    tmp_path: Path, keyed: str, round_trips: int
) -> None:
    trace = tmp_path / "trace"
    with postgres_schema() as url:
        done = subprocess.run(
            [
                "strace", "-f", "-qq", "-e", "trace=recvfrom,sched_yield", "-o", str(trace),
                sys.executable, "-c", SCRIPT, url, keyed,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    lines = trace.read_text().splitlines()
    marks = [i for i, line in enumerate(lines) if "sched_yield()" in line]
    answers = [
        line for line in lines[marks[0] : marks[-1]] if "recvfrom(" in line and "EAGAIN" not in line
    ]
    # (a pooled connection checked after the server spoke may cost one more: slack of 2)
    assert 20 * round_trips <= len(answers) <= 20 * round_trips + 2, answers[:12]
