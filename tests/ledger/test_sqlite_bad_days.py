"""SQLite's bad days: a corrupt file, a read-only file or directory, a database locked past the
busy timeout, a missing directory. Each is a clear :class:`LedgerError`, and nothing is
half-written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from notifykit.ledger import Ledger, LedgerError, open_ledger
from notifykit.plan.planner import Plan

MakePlan = Callable[..., Plan]


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable, even for root (CI runs as root, for whom mode bits do not
    count): ``chattr +i`` as root, ``chmod`` otherwise."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {done.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


def use(path: Path, action: Callable[[Ledger], object]) -> None:
    """Open the ledger at ``path``, do ``action`` with it, close it."""
    ledger = open_ledger(str(path))
    try:
        action(ledger)
    finally:
        ledger.close()


def test_a_corrupt_file_is_a_clear_error_and_left_as_it_was(tmp_path: Path):
    path = tmp_path / "ledger.db"
    garbage = b"this is not a database\n" * 400
    path.write_bytes(garbage)
    with pytest.raises(LedgerError, match="not a SQLite database or is corrupt: move it aside"):
        open_ledger(str(path))
    assert path.read_bytes() == garbage


def test_a_file_corrupted_after_opening_is_a_clear_error(tmp_path: Path, make_plan: MakePlan):
    path = tmp_path / "ledger.db"
    ledger = open_ledger(str(path))
    ledger.add(make_plan())
    ledger.close()
    data = bytearray(path.read_bytes())
    # Keep the header (so it opens), scramble the pages behind it.
    data[200:] = b"\xff" * (len(data) - 200)
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerError, match=r"ledger .*ledger\.db: .*(corrupt|not a SQLite)"):
        use(path, lambda ledger: ledger.reports(limit=0))


def test_a_read_only_file_is_a_clear_error(tmp_path: Path, make_plan: MakePlan):
    path = tmp_path / "ledger.db"
    ledger = open_ledger(str(path))
    first = ledger.add(make_plan())
    ledger.close()
    for extra in tmp_path.glob("ledger.db-*"):
        extra.unlink()
    before = path.read_bytes()
    with read_only(path), pytest.raises(LedgerError, match="read-only: notifykit needs to write"):
        use(path, lambda ledger: ledger.add(make_plan()))
    assert path.read_bytes() == before
    reopened = open_ledger(str(path))
    try:
        assert [r.id for r in reopened.reports(limit=0)] == [first.id]
    finally:
        reopened.close()


def test_a_read_only_directory_is_a_clear_error(tmp_path: Path):
    directory = tmp_path / "ro"
    directory.mkdir()
    with read_only(directory), pytest.raises(LedgerError) as caught:
        open_ledger(str(directory / "ledger.db"))
    message = str(caught.value)
    assert "ro/ledger.db" in message
    assert "read-only" in message or "directory are writable" in message
    assert list(directory.iterdir()) == []


def assert_says_locked_and_the_fix(error: LedgerError, path: Path, timeout: str) -> None:
    """The locked-ledger message: what happened, which file, and what to do about it."""
    message = str(error)
    assert f"ledger {path}: " in message
    assert "the database is locked by another process" in message
    assert f"store.busy_timeout ({timeout})" in message
    assert "stop that process" in message and "raise store.busy_timeout" in message
    assert "migration" not in message  # what it was doing inside is no concern of the reader


def test_a_database_locked_past_busy_timeout_is_a_clear_error(tmp_path: Path, make_plan: MakePlan):
    path = tmp_path / "ledger.db"
    ledger = open_ledger(str(path), busy_timeout=0.2)
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(LedgerError, match="storing a notification failed") as caught:
            ledger.add(make_plan())
        assert_says_locked_and_the_fix(caught.value, path, "0.2s")
        other.execute("ROLLBACK")
        assert ledger.counts() == {}  # nothing half-written
        ledger.add(make_plan())
        assert ledger.counts() == {"pending": 3}
    finally:
        other.close()
        ledger.close()


@pytest.mark.parametrize("schema", ["none", "older"])
def test_opening_a_ledger_locked_past_busy_timeout_says_so_not_migrations(
    tmp_path: Path, schema: str
):
    path = tmp_path / "ledger.db"
    if schema == "older":  # a ledger written by the previous notifykit: migrations to apply
        open_ledger(str(path)).close()
        with closing(sqlite3.connect(str(path), isolation_level=None)) as db:
            db.execute("DELETE FROM schema_migrations WHERE version > 1")
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(LedgerError, match="opening it failed") as caught:
            open_ledger(str(path), busy_timeout=0.25)  # its schema needs writing
        assert_says_locked_and_the_fix(caught.value, path, "0.25s")
    finally:
        other.close()
    if schema == "none":
        open_ledger(str(path)).close()  # once it is free, it opens


def test_a_current_ledger_opens_and_reads_while_another_process_writes(
    tmp_path: Path, make_plan: MakePlan
):
    path = tmp_path / "ledger.db"
    use(path, lambda ledger: ledger.add(make_plan()))
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        ledger = open_ledger(str(path), busy_timeout=0.25)  # WAL: reading needs no lock
        try:
            assert ledger.counts() == {"pending": 3}
            with pytest.raises(LedgerError, match="is locked by another process"):
                ledger.add(make_plan())
        finally:
            ledger.close()
    finally:
        other.close()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path):
    with pytest.raises(LedgerError, match="does not exist; create it"):
        open_ledger(str(tmp_path / "nowhere" / "ledger.db"))
    assert not (tmp_path / "nowhere").exists()


def test_an_unknown_url_scheme_names_the_ones_it_knows(tmp_path: Path):
    with pytest.raises(LedgerError, match=r"mysql:// is not a ledger .* postgresql://"):
        open_ledger("mysql://db/x")
