"""The ``console:`` section (typed, validated at its line), ``notifykit console hash-password``
(reads the password without echo, prints only its hash), and ``notifykit serve`` saying whether
the console is on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from notifykit.cli import cli
from notifykit.config.console import parse_password_hash
from notifykit.errors import ConfigError
from notifykit.server.console.auth import DEFAULT_COST, hash_password, verify_password
from tests.console.conftest import PASSWORD, ROUTING, TEST_COST, Console, csrf_of, log_in
from tests.delivery.conftest import write_config
from tests.server.support import Serve, free_port, serve_config

GOOD = hash_password(PASSWORD, cost=TEST_COST)


def _load(make_kit: Any, tmp_path: Path, sim: Any, console: dict[str, Any]) -> Any:
    return make_kit(write_config(tmp_path, sim, console=console)).config


def test_a_console_section_loads_typed(make_kit, tmp_path, sim):
    config = _load(
        make_kit,
        tmp_path,
        sim,
        {
            "users": {"asha": {"password": GOOD}},
            "trusted_header": "X-Forwarded-User",
            "trusted_proxies": ["10.0.0.0/8", "::1"],
            "session": "30m",
        },
    )
    console = config.console
    assert console.enabled and console.session == 1800.0
    assert console.users["asha"].password == GOOD
    assert console.trusted_proxies == ("10.0.0.0/8", "::1")
    assert "scrypt" not in repr(console)  # a hash is kept out of reprs and logs too


@pytest.mark.parametrize(
    ("console", "path", "message"),
    [
        ({"users": {"asha": {"password": "hunter2"}}}, "console.users.asha.password", "scrypt$N"),
        (
            {"users": {"asha": {"password": GOOD.replace("$1024$", "$1000$")}}},
            "console.users.asha.password",
            "power of 2",
        ),
        ({"trusted_proxies": ["10.0.0.0/33"]}, "console.trusted_proxies", "not an address"),
        ({"trusted_header": "X Forwarded"}, "console.trusted_header", "header name"),
        ({"secret": "short"}, "console.secret", "at least 32"),
        ({"user": {}}, "console.user", "users"),
    ],
)
def test_a_wrong_console_section_is_a_problem_at_its_key(
    make_kit, tmp_path, sim, console, path, message
):
    with pytest.raises(ConfigError) as raised:
        _load(make_kit, tmp_path, sim, console)
    text = str(raised.value)
    assert path in text and message in text, text
    assert "hunter2" not in text


def test_hash_password_reads_without_echo_and_prints_only_the_hash():
    ran = CliRunner().invoke(cli, ["console", "hash-password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert ran.exit_code == 0, ran.output
    [hashed] = [line for line in ran.stdout.splitlines() if line.startswith("scrypt$")]
    assert PASSWORD not in ran.output  # hide_input: the runner echoes nothing typed
    parsed = parse_password_hash(hashed)
    assert (parsed.n, parsed.r, parsed.p) == DEFAULT_COST and len(parsed.salt) == 16
    assert verify_password(PASSWORD, hashed) and not verify_password(PASSWORD + "x", hashed)
    again = CliRunner().invoke(cli, ["console", "hash-password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.stdout.splitlines()[0] != hashed  # a new salt each time


def test_hash_password_refuses_a_short_or_mistyped_password():
    short = CliRunner().invoke(cli, ["console", "hash-password"], input="abc\nabc\n")
    assert short.exit_code != 0 and "at least 8" in short.output
    mistyped = CliRunner().invoke(
        cli, ["console", "hash-password"], input=f"{PASSWORD}\nother password\n" * 1
    )
    assert "scrypt$" not in mistyped.output


def test_serve_says_the_console_is_off_and_answers_404(tmp_path, sim):
    port = free_port()
    served = Serve(serve_config(tmp_path, sim, port), port, tmp=tmp_path)
    try:
        assert requests.get(f"{served.url}/console/", timeout=5).status_code == 404
    finally:
        assert served.stop() == 0
    assert "web console off" in served.log()


def test_notifykit_serve_runs_the_console_end_to_end(tmp_path, sim, make_kit):
    """``notifykit serve`` as its own process: says where the console is, and a login and an
    acknowledgement through it change the ledger another process reads."""
    port = free_port()
    users = {"asha": {"password": GOOD}}
    config = serve_config(tmp_path, sim, port, sections={**ROUTING, "console": {"users": users}})
    kit = make_kit(config)
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    served = Serve(config, port, tmp=tmp_path)
    try:
        url = f"{served.url}/console/"
        answer = requests.get(url, allow_redirects=False, timeout=5)
        assert answer.status_code == 303 and answer.headers["Location"] == "login"
        session = log_in(Console(kit, url, served.url, config, None))  # type: ignore[arg-type]
        token = csrf_of(session.get(url, timeout=5).text)
        acked = session.post(url + "ack", data={"csrf": token, "key": report.key}, timeout=10)
        assert acked.status_code == 200 and "Acknowledged: nobody else" in acked.text
    finally:
        assert served.stop() == 0
    [escalation] = kit.ledger.routing.escalations()
    assert (escalation.state, escalation.acked_by) == ("acked", "asha")
    log = served.log()
    assert f"web console at http://127.0.0.1:{port}/console/ (1 user with passwords)" in log
    assert "console: asha logged in from 127.0.0.1" in log
    assert GOOD not in log and PASSWORD not in log
    assert "unencrypted" not in log  # public_url is this machine
