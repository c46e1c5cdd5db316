"""Helpers for the status server's tests: ``notifykit serve`` as a real process (optionally with a
descriptor limit), raw HTTP over real sockets, and a process's threads and CPU time."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.delivery.conftest import TOKEN, free_port, wait_until, write_config

__all__ = [
    "Serve",
    "acknowledgements",
    "cpu_seconds",
    "exchange",
    "free_port",
    "raw_request",
    "read_response",
    "serve_config",
    "threads_of",
    "wait_until",
]


def serve_config(tmp_path: Path, sim: Any, port: int, **server: Any) -> Path:
    """A config whose ``server.public_url`` is ``notifykit serve`` on ``port``, plus ``server``
    keys, and whatever ``write_config`` sections are in ``server["sections"]``."""
    sections = server.pop("sections", {})
    return write_config(
        tmp_path,
        sim,
        server={"public_url": f"http://127.0.0.1:{port}", "port": port, **server},
        **sections,
    )


class Serve:
    """``notifykit serve`` in a process of its own; stderr goes to a file (:meth:`log`)."""

    def __init__(
        self, config: Path, port: int, *args: str, nofile: int | None = None, tmp: Path
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = tmp / f"serve-{port}.log"
        env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN}

        def limit() -> None:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "notifykit", "-c", str(config), "serve", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=limit if nofile else None,  # no thread started yet
            )
        wait_until(lambda: self._up() or self.process.poll() is not None, timeout=30)
        assert self.process.poll() is None, self.log()

    def _up(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return int(self.process.returncode)


def raw_request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    headers = dict(headers or {})
    if body and "Transfer-Encoding" not in headers:
        headers.setdefault("Content-Length", str(len(body)))
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[str, dict[str, str], bytes]:
    """One HTTP response from ``sock``: its status line, headers (lower-cased) and body (read by
    Content-Length)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response head: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_response(sock, timeout)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` seconds (EOF or a reset)."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Threads:\s+(\d+)", status, re.M)
    assert match is not None
    return int(match.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def within(seconds: float, fn: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


def acknowledgements(base_url: str) -> dict[tuple[str, str], float]:
    """``notifykit_acknowledgements_total`` at ``base_url``'s ``/metrics``, read with Prometheus'
    text parser: ``{(via, channel): count}``."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = requests.get(f"{base_url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        (s.labels["via"], s.labels["channel"]): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
        if s.name == "notifykit_acknowledgements_total"
    }
