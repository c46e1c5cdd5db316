"""The ten-line receiver of docs/plugins/webhook.md, run exactly as the page writes it (read from
the page, in a subprocess of its own), checks real posts: the channel's are accepted (200, so
``sent``), a forged or changed body and a stale signature are refused (401)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_webhook import sign
from tests.webhook.conftest import SECRET, write_config

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "webhook.md"
MARKER = "<!-- the receiver: tests/webhook/test_docs_receiver.py runs this block as it is -->"


def receiver_source() -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(re.escape(MARKER) + r"\n(?:<!--.*?-->\n)*```python\n(.*?)\n```", text, re.S)
    assert match is not None, f"{PAGE}: no python block after the receiver's marker"
    return match.group(1)


def test_the_receiver_is_ten_lines_of_the_standard_library() -> None:
    source = receiver_source()
    lines = [line for line in source.splitlines() if line.strip()]
    assert len(lines) <= 10, lines
    imported = set(re.findall(r"^(?:import|from) ([\w.]+(?:, [\w.]+)*)", source, re.M))
    modules = {m.strip().split(".")[0] for group in imported for m in group.split(",")}
    assert modules <= set(sys.stdlib_module_names), modules


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def docs_receiver(tmp_path: Path) -> Iterator[str]:
    """The page's receiver, running: its URL."""
    script = tmp_path / "receiver.py"
    script.write_text(receiver_source(), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "the receiver did not start: " + process.stderr.read().decode()  # type: ignore[union-attr]
                    ) from None
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}/notifykit"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()  # type: ignore[union-attr]


def test_it_accepts_the_channels_posts(
    make_kit: Callable[..., Notifier], docs_receiver: str, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, docs_receiver))
    report = kit.notify("db.down", data={"host": "db1", "note": "नमस्ते"})
    assert [d.state for d in report.deliveries] == [DeliveryState.SENT], report.deliveries[0].error


def test_it_refuses_a_forged_changed_or_stale_post(docs_receiver: str) -> None:
    body = b'{"event":"db.down","text":"CRITICAL db.down"}'

    def post(data: bytes, signature: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Notifykit-Signature"] = signature
        return requests.post(docs_receiver, data=data, headers=headers, timeout=5).status_code

    assert post(body, sign(SECRET, body)) == 200  # the real thing
    assert post(body, None) == 401  # unsigned
    assert post(body, sign("a-guessed-secret", body)) == 401  # forged
    assert post(body.replace(b"db.down", b"db.up"), sign(SECRET, body)) == 401  # changed
    assert post(body, sign(SECRET, body, timestamp=int(time.time()) - 3600)) == 401  # replayed
    assert post(body, "t=abc,v1=00") == 401  # garbage
