"""``-v/--verbose``: the HTTP requests, retries and rate-limiter waits on stderr, secrets scrubbed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml

from notifykit.cli.logs import instrument_clients
from notifykit.notifier import Notifier
from notifykit_exotel.retry import RateLimiter
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.cli.support import TOKEN, run


def test_verbose_shows_each_request_on_stderr(sim: ExotelSimulator, config_file: Path) -> None:
    result = run("-c", str(config_file), "-v", "notify", "db.down", "--data", "host=db1")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(
        re.search(r"POST /v1/Accounts/ACcli/Sms/send\.json -> 200 \(\d+ ms\)", ln) for ln in lines
    )
    assert sum(bool(re.search(r"POST \S+/Calls/connect\.json -> 200\b", ln)) for ln in lines) == 2
    assert "POST" not in result.stdout  # the report stays clean for scripts
    quiet = run("-c", str(config_file), "notify", "db.down", "--data", "host=db1")
    assert "POST" not in quiet.output


def test_verbose_may_follow_the_command(sim: ExotelSimulator, config_file: Path) -> None:
    result = run("-c", str(config_file), "send", "sms", "--to", "bob", "--body", "x", "-v")
    assert result.exit_code == 0, result.output
    assert re.search(r"POST \S+/Sms/send\.json -> 200", result.stderr)


def test_verbose_shows_retries(sim: ExotelSimulator, config_file: Path) -> None:
    sim.inject(Fault(status=429, retry_after=0, path="Sms"), times=1)
    result = run("-c", str(config_file), "-v", "send", "sms", "--to", "bob", "--body", "x")
    assert result.exit_code == 0, result.output
    assert re.search(r"POST \S+/Sms/send\.json failed \(429\); retry 1/\d+", result.stderr)
    assert len(sim.requests) == 2


def test_the_token_never_appears_with_verbose(
    sim: ExotelSimulator, config_file: Path, tmp_path: Path
) -> None:
    # The worst case: the token sits in the base URL's path, so every request line carries it.
    data = yaml.safe_load(config_file.read_text())
    data["accounts"]["exotel-main"]["base_url"] = f"{sim.base_url}/{TOKEN}"
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(yaml.safe_dump(data))
    result = run("-c", str(leaky), "-v", "notify", "db.down", "--data", "host=db1")
    assert result.exit_code == 2, result.output  # the simulator knows no such path: 404s
    assert TOKEN not in result.stderr and TOKEN not in result.stdout
    assert re.search(
        r"POST /<redacted>/v1/Accounts/ACcli/Sms/send\.json -> 404 \(\d+ ms\)", result.stderr
    )
    # and on the ordinary path, with every kind of delivery
    ok = run("-c", str(config_file), "-v", "notify", "db.down", "--data", "host=db1")
    assert ok.exit_code == 0 and TOKEN not in ok.output


def test_verbose_shows_rate_limiter_waits(
    sim: ExotelSimulator, config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Notifier.from_config(config_file) as notifier:
        client = notifier.client("exotel-main")
        # 2 requests per 0.1 s, burst 1: the second request waits about 0.1 s for its slot.
        client.rate_limiter = RateLimiter(limit=2, period=0.1, burst=1)
        instrument_clients(notifier)
        with caplog.at_level(logging.INFO, logger="notifykit.cli"):
            report = notifier.send("call", to=["alice", "bob"])
    assert report.ok, report.summary()
    waits = [r.getMessage() for r in caplog.records if "rate limiter" in r.getMessage()]
    assert len(waits) == 1
    assert re.fullmatch(r"rate limiter \(account exotel-main\): waited \d+ ms before .*", waits[0])
    assert client.rate_limiter.waited > 0  # the wrapper passes attributes through


def test_verbose_leaves_out_what_a_provider_declares_quiet(config_file: Path) -> None:
    # --sandbox's simulator logs each request it serves, repeating the client's line: the
    # Exotel provider declares its logger quiet (Provider.quiet_loggers), so -v shows one line.
    result = run("-c", str(config_file), "--sandbox", "-v", "send", "sms", "--to", "bob",
                 "--body", "x")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.search(r"POST \S+/Sms/send\.json -> 200", result.stderr)
    assert "notifykit_exotel.simulator" not in result.stderr
    from notifykit.plugins import Registry, get_plugin_manager

    exotel = Registry.from_manager(get_plugin_manager()).providers["exotel"]
    assert exotel.quiet_loggers == ("notifykit_exotel.simulator",)
