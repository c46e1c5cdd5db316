"""Cross-process wake-ups for the SQLite ledger: how a worker idle on a ledger file learns, at
once, that another process committed work to it (PostgreSQL has ``LISTEN``/``NOTIFY``; SQLite
has nothing of the kind).

Each process that waits for work binds a Unix datagram socket in the **wake directory** beside
the ledger (``notifykit.db-wake/``, one ``<random>.sock`` per waiting ledger); each process that
commits work sends one datagram to every socket there, after its commit. A waiter blocks in
``select()`` on its socket, so an idle worker spends no CPU on it and wakes within a
millisecond. Announcing is best effort and never blocks nor fails the committer: the sockets are
non-blocking (a waiter whose queue is full has wake-ups pending already), a socket nobody is
bound to any more (its waiter crashed) is removed by the first committer that finds it, and any
other error is ignored: the worker's poll remains the backstop.

Where no socket can be had (no ``AF_UNIX`` datagrams, as on Windows; a path longer than a
``sockaddr_un`` holds; a directory it may not write), the waiter looks at ``PRAGMA data_version``
every :data:`WATCH_INTERVAL` instead (:meth:`notifykit.ledger.sqlite.SqliteLedger.wait_for_work`),
a number SQLite changes whenever another connection commits. Both are measured by ``python -m
bench --only wakeup`` (docs/performance.md).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import select
import socket
import stat
import threading
import time
from contextlib import suppress
from pathlib import Path

__all__ = ["WAKE_SUFFIX", "WATCH_INTERVAL", "Inbox", "WakeDirectory"]

logger = logging.getLogger("notifykit.ledger")

#: the wake directory's name is the ledger file's name with this appended (as SQLite's ``-wal``)
WAKE_SUFFIX = "-wake"

#: how often (seconds) a waiter without a socket looks at ``PRAGMA data_version``: it starts
#: other processes' work within this (plus a claim), at the price of a wake-up of its thread
#: every interval (measured: an idle worker at 0.6-0.7% of a core, 0.1% with a socket)
WATCH_INTERVAL = 0.02

#: how often (seconds) a waiter looks whether its socket file is still there
INTACT_CHECK = 1.0

#: the datagram (its content does not matter: one or several mean "look for work")
_PING = b"w"


class WakeDirectory:
    """The wake directory of one ledger file: where waiters bind, and where committers look."""

    def __init__(self, ledger: str | Path) -> None:
        # Resolved, so processes naming the file through different links share one directory.
        self.ledger = Path(ledger).resolve()
        self.path = self.ledger.with_name(self.ledger.name + WAKE_SUFFIX)
        self._sender: socket.socket | None = None
        self._sender_lock = threading.Lock()

    def listen(self) -> Inbox | None:
        """A socket of this process's own in the directory (made if need be), or ``None`` when
        none can be had here (the caller then watches ``data_version``)."""
        if not hasattr(socket, "AF_UNIX"):
            return None
        try:
            self._make_directory()
            return Inbox(self.path / f"{secrets.token_hex(8)}.sock", self._socket_mode())
        except OSError as err:
            logger.debug(
                "ledger %s: no wake-up socket (%s); watching data_version", self.ledger, err
            )
            return None

    def announce(self, skip: Path | None = None) -> None:
        """Wake every waiter bound in the directory (but ``skip``, this process's own, woken
        already). Best effort: never raises, never blocks."""
        if not hasattr(socket, "AF_UNIX"):
            return
        try:
            entries = [e.path for e in os.scandir(self.path) if e.name.endswith(".sock")]
        except OSError:
            return  # no directory: nobody waits with a socket
        with self._sender_lock:
            try:
                if self._sender is None:
                    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    sender.setblocking(False)
                    self._sender = sender
                for path in entries:
                    if skip is not None and path == str(skip):
                        continue
                    self._send(self._sender, path)
            except OSError as err:
                logger.debug("ledger %s: announcing work failed: %s", self.ledger, err)

    def close(self) -> None:
        with self._sender_lock:
            if self._sender is not None:
                self._sender.close()
                self._sender = None

    @staticmethod
    def _send(sender: socket.socket, path: str) -> None:
        try:
            sender.sendto(_PING, path)
        except ConnectionRefusedError:
            # Nobody is bound to it: its waiter died without removing it.
            with suppress(OSError):
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
        except OSError as err:
            # EAGAIN/ENOBUFS: its queue is full, so it has wake-ups pending; ENOENT: it just
            # went away; EACCES: a waiter this user may not write to (its poll finds the work).
            # None of them is the committer's problem.
            if err.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ENOENT):
                logger.debug("wake-up socket %s: %s", path, err)

    def _make_directory(self) -> None:
        """The directory, with the permissions of the one the ledger is in: whoever may write
        the ledger (and so create its ``-wal`` and ``-shm`` there) may wake its waiters."""
        if self.path.is_dir():
            return
        mode = self.ledger.parent.stat().st_mode & 0o777
        try:
            self.path.mkdir(mode=mode)
        except FileExistsError:
            return
        os.chmod(self.path, mode)  # mkdir's mode is cut by the umask

    def _socket_mode(self) -> int:
        """A socket takes the ledger file's read/write bits: writing to a Unix socket needs
        write permission on it, which every process writing the ledger has."""
        try:
            return self.ledger.stat().st_mode & 0o666
        except OSError:
            return 0o600


class Inbox:
    """A waiter's socket: a datagram in it means "another process committed work"."""

    def __init__(self, path: Path, mode: int) -> None:
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(path))
            sock.setblocking(False)
            os.chmod(path, mode)
        except OSError:
            sock.close()
            with suppress(OSError):
                path.unlink()
            raise
        self._sock = sock
        self._inode = os.lstat(path).st_ino
        self._checked = time.monotonic()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a datagram; ``True`` (all of them taken) if one
        came."""
        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):  # closed under it
            return False
        return bool(ready) and self.take()

    def take(self) -> bool:
        """Take every datagram waiting; whether there was one."""
        got = False
        while True:
            try:
                self._sock.recv(16)
            except OSError:  # BlockingIOError: no more
                return got
            got = True

    def intact(self) -> bool:
        """Whether its file is still in the wake directory (looked at once a second at most): a
        clean-up that removed it (``rm -r``, a tmp cleaner) leaves it unreachable, and the
        ledger then makes a new one."""
        now = time.monotonic()
        if now - self._checked < INTACT_CHECK:
            return True
        self._checked = now
        try:
            return os.lstat(self.path).st_ino == self._inode
        except OSError:
            return False

    def poke(self) -> None:
        """Wake this inbox's own waiter (work added in this process). Never raises."""
        with suppress(OSError):
            self._sock.sendto(_PING, str(self.path))

    def close(self) -> None:
        with suppress(OSError):
            self._sock.close()
        with suppress(OSError):
            self.path.unlink()
