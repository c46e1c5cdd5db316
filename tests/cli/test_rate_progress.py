"""A send that waits on the rate limit says so on stderr when stderr is a terminal: ``notifykit``
in a subprocess whose stderr is a pseudo-terminal, against the simulator, with an account allowed
one request every 3 s."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.support import ROOT, TOKEN
from tests.delivery.conftest import write_config


@pytest.fixture
def slow_config(sim, tmp_path: Path) -> Path:
    account = {"sid": "ACcli", "token": "${EXOTEL_TOKEN}", "rate_limit": 1, "rate_window": "3s"}
    return write_config(tmp_path, sim, account=account)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "EXOTEL_TOKEN": TOKEN,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
    }


def _command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "notifykit", "-c", str(config), *args]


def run_on_a_terminal(config: Path, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``notifykit`` with stderr on a pseudo-terminal; (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    with subprocess.Popen(
        _command(config, *args), stdout=subprocess.PIPE, stderr=slave, env=_env()
    ) as proc:
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
                if not ready:
                    break
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal (it exited)
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            os.close(master)
        assert proc.stdout is not None
        out = proc.stdout.read()
        code = proc.wait(timeout=timeout)
    return code, out.decode(), seen.decode(errors="replace")


SEND = (
    "notify",
    "db.down",
    "-d",
    "host=db1",
    "--to",
    "p0",
    "--channel",
    "sms",
    "--channel",
    "call",
)


def test_a_send_waiting_on_the_rate_limit_shows_progress_on_a_terminal(slow_config, sim):
    code, out, terminal = run_on_a_terminal(slow_config, *SEND)
    assert code == 0, terminal
    assert "2 sent" in out
    assert "rate limit" in terminal and "account main" in terminal, terminal
    assert "1 request made" in terminal or "1 requests made" in terminal, terminal
    assert TOKEN not in terminal


def test_no_progress_with_json_or_without_a_terminal(slow_config, sim):
    code, _out, terminal = run_on_a_terminal(slow_config, "--json", *SEND)
    assert code == 0, terminal
    assert "rate limit" not in terminal, terminal
    piped = subprocess.run(
        _command(slow_config, *SEND), capture_output=True, text=True, env=_env(), timeout=60
    )
    assert piped.returncode == 0, piped.stderr
    assert "rate limit" not in piped.stderr
    assert len(sim.requests) == 4  # both runs sent both messages
