"""``notifykit serve`` refusing to start badly, as real processes on real sockets: a busy port is
one line and exit 2, and an Alertmanager webhook that anyone could reach without a token is
refused (by ``serve`` and by ``config check``) unless the config says ``webhook_token: none``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import TOKEN, free_port, wait_until, write_config

PUBLIC = "https://alerts.example.com/notifykit"
WEBHOOK_TOKEN = "am-webhook-token-0123456789"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "NK_LEDGER_TOKEN": TOKEN,
        "NK_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "NOTIFYKIT_DISABLE_PLUGINS": "",
    }


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 another program is listening on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path, sim, busy_port):
    config = write_config(tmp_path, sim)
    result = run(config, "serve", "--port", str(busy_port))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line == (
        f"error: notifykit serve: port {busy_port} on 127.0.0.1 is already in use (another "
        "notifykit serve, or another program, listens there): stop it, or pick another port "
        "with --port or server.port"
    )
    assert "internal error" not in result.stderr and result.stdout == ""


def test_serve_on_a_busy_port_from_the_config(tmp_path, sim, busy_port):
    config = write_config(tmp_path, sim, server={"port": busy_port})
    result = run(config, "serve")
    assert result.returncode == 2
    assert f"port {busy_port} on 127.0.0.1 is already in use" in result.stderr


def test_serve_on_an_address_it_cannot_bind_is_exit_2(tmp_path, sim):
    config = write_config(tmp_path, sim, server={"webhook_token": "none"})
    # 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
    result = run(config, "serve", "--host", "192.0.2.1", "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: notifykit serve: cannot listen on 192.0.2.1:")
    assert "--host or server.host" in line


def _serve(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "notifykit", "-c", str(config), "serve", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _refused(config: Path, *args: str) -> str:
    """``serve`` must exit at once with code 3 (it would otherwise serve until killed)."""
    server = _serve(config, *args)
    try:
        _, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 3, err
    return err


def test_serve_refuses_a_public_url_without_a_webhook_token(tmp_path, sim):
    port = free_port()
    config = write_config(tmp_path, sim, server={"public_url": PUBLIC, "port": port})
    err = _refused(config)
    assert f"{config}:" in err and "server.webhook_token" in err
    assert "server.public_url points beyond this machine" in err and PUBLIC not in err
    assert "webhook_token: ${ALERTMANAGER_TOKEN}" in err and "webhook_token: none" in err
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # never listened on


def test_serve_refuses_a_non_loopback_host_without_a_webhook_token(tmp_path, sim):
    config = write_config(tmp_path, sim)
    err = _refused(config, "--host", "0.0.0.0", "--port", str(free_port()))
    assert "listens on 0.0.0.0, not a loopback address" in err
    assert "webhook_token: none" in err


def _alertmanager(port: int, headers: dict[str, str] | None = None) -> requests.Response:
    body: dict[str, Any] = {"version": "4", "status": "firing", "alerts": []}
    return requests.post(
        f"http://127.0.0.1:{port}/alertmanager", json=body, headers=headers or {}, timeout=5
    )


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.parametrize(
    ("webhook_token", "unauthenticated"),
    [("none", 200), ("${NK_WEBHOOK_TOKEN}", 401)],
    ids=["explicitly-open", "token"],
)
def test_serve_starts_with_a_token_or_webhook_token_none(
    tmp_path: Path, sim: ExotelSimulator, webhook_token: str, unauthenticated: int
) -> None:
    port = free_port()
    server_section = {"public_url": PUBLIC, "port": port, "webhook_token": webhook_token}
    config = write_config(tmp_path, sim, server=server_section)
    server = _serve(config)
    try:
        wait_until(lambda: _up(port) or server.poll() is not None, timeout=30)
        assert server.poll() is None, server.communicate()[1]
        assert _alertmanager(port).status_code == unauthenticated
        bearer = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        assert _alertmanager(port, bearer).status_code == 200
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=20)
        assert server.returncode == 0, err
        assert WEBHOOK_TOKEN not in err
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


# -- config check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_section", "ok"),
    [
        ({}, True),
        ({"public_url": "http://127.0.0.1:8025"}, True),  # loopback: only this machine
        ({"public_url": PUBLIC}, False),
        ({"host": "0.0.0.0"}, False),
        ({"host": "::"}, False),
        ({"host": "localhost"}, True),
        ({"public_url": PUBLIC, "webhook_token": "${NK_WEBHOOK_TOKEN}"}, True),
        ({"host": "0.0.0.0", "webhook_token": "none"}, True),
        ({"public_url": PUBLIC, "webhook_token": "none"}, True),
    ],
    ids=[
        "no-server",
        "loopback-url",
        "public-url",
        "any-ipv4",
        "any-ipv6",
        "localhost",
        "token",
        "host-none",
        "url-none",
    ],
)
def test_config_check_fails_on_an_open_webhook(tmp_path, sim, server_section, ok):
    config = write_config(tmp_path, sim, server=server_section)
    result = run(config, "config", "check")
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    if not ok:
        [problem] = result.stdout.splitlines()
        assert problem.startswith(f"{config}:")
        assert ": server.webhook_token: " in problem and "webhook_token: none" in problem
        assert "1 problem" in result.stderr
    as_json = json.loads(run(config, "--json", "config", "check").stdout)
    assert as_json["ok"] is ok
    if not ok:
        [problem] = as_json["problems"]
        assert problem["path"] == "server.webhook_token" and problem["line"] is not None


def test_webhook_token_none_is_no_secret(tmp_path, sim):
    # "none" is a word, not a token: never scrubbed from output, never an inline-secret warning.
    config = write_config(tmp_path, sim, server={"public_url": PUBLIC, "webhook_token": "none"})
    result = run(config, "--json", "config", "check", "--strict")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["warnings"] == []
    inline = write_config(
        tmp_path, sim, server={"public_url": PUBLIC, "webhook_token": WEBHOOK_TOKEN}
    )
    warned = json.loads(run(inline, "--json", "config", "check").stdout)
    [warning] = warned["warnings"]
    assert warning["path"] == "server.webhook_token" and WEBHOOK_TOKEN not in json.dumps(warned)


def test_config_check_without_secrets_counts_an_unset_webhook_token_as_set(tmp_path, sim):
    # CI checks the file without the secrets: ${ALERTMANAGER_TOKEN} will be set where serve runs.
    server = {"public_url": PUBLIC, "webhook_token": "${NK_UNSET_WEBHOOK_TOKEN}"}
    config = write_config(tmp_path, sim, server=server)
    result = run(config, "--json", "config", "check")
    assert result.returncode == 0, result.stdout
    [warning] = json.loads(result.stdout)["warnings"]
    assert warning["path"] == "server.webhook_token" and "<unset" not in warning["message"]
    assert run(config, "config", "check", "--strict").returncode == 3
