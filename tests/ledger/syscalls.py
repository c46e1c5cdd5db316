"""Counting a process's system calls between two marks, with strace: what the ledger's
durability and round-trip tests measure (fdatasync calls, answers read from a server).

A script run by :func:`traced` calls ``mark()`` (from :data:`PRELUDE`) before and after the part
to count; ``mark()`` is a ``sched_yield``, a call nothing else in the process makes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

__all__ = ["PRELUDE", "traced"]

#: the first lines of a traced script: ``mark()`` puts a mark in the trace
PRELUDE = textwrap.dedent(
    """
    import ctypes, sys

    _libc = ctypes.CDLL(None)

    def mark():
        _libc.syscall(24)  # sched_yield
    """
)


def traced(tmp_path: Path, script: str, args: list[str], syscalls: str) -> list[str]:
    """The trace lines of ``syscalls`` (strace's ``-e trace=`` list, file descriptors shown as
    paths) that ``PRELUDE + script`` made between its first and last ``mark()``. Skips the test
    where strace is missing or may not trace."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace to count system calls")
    trace = tmp_path / "trace"
    done = subprocess.run(
        [
            "strace", "-f", "-qq", "-y", "-e", f"trace={syscalls},sched_yield", "-o", str(trace),
            sys.executable, "-c", PRELUDE + textwrap.dedent(script), *args,
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
    assert len(marks) >= 2, "the script made no two marks"
    return [line for line in lines[marks[0] + 1 : marks[-1]] if "sched_yield()" not in line]
