"""An Apprise URL is a secret: its token never shows in a log record (Apprise's and urllib3's
debug lines quote request paths, where webhooks carry their tokens), a delivery's error, the
ledger, `history`, `-v` output or a repr, whatever became of the send."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from notifykit.model import DeliveryState
from tests.apprise_channel.conftest import TOKEN, cli, cli_env, closed_port, write_config


@pytest.fixture
def everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, at every level (Apprise's TRACE included)."""
    caplog.set_level(1)
    loggers = [logging.getLogger(name) for name in ("apprise", "urllib3")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(1)
    yield caplog
    for log, level in zip(loggers, levels, strict=True):
        log.setLevel(level)


def leaked(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if TOKEN in r.getMessage()]


def test_apprise_itself_logs_the_token(everything, receiver):
    # What the channel keeps out: Apprise used directly logs the request URL's path at debug.
    import apprise

    notifier = apprise.Apprise()
    notifier.add(receiver.url(f"hook/{TOKEN}"))
    assert notifier.notify(body="x", title="y")
    assert leaked(everything)


@pytest.mark.parametrize("case", ["sent", "400", "503", "timeout", "refused"])
def test_no_record_carries_the_token(make_kit, receiver, everything, monkeypatch, tmp_path, case):
    account = {"timeout": "0.3s"}
    if case in ("400", "503"):
        receiver.answer("/alice", status=int(case))
    elif case == "timeout":
        receiver.answer("/alice", delay=2)
    elif case == "refused":
        monkeypatch.setenv("NK_APPRISE_ALICE", f"json://127.0.0.1:{closed_port()}/a/{TOKEN}")
    kit = make_kit(write_config(tmp_path, account=account))
    report = kit.send("push", to=["alice", "bob"], body="x", severity="critical")
    assert len(report.deliveries) == 2
    assert everything.records  # the capture works: there are records, none with the token
    assert leaked(everything) == []
    assert all(TOKEN not in (d.error or "") for d in report.deliveries)
    assert all(TOKEN not in str(d.info) for d in report.deliveries)


def test_apprise_used_by_the_application_still_logs(make_kit, receiver, everything):
    # The channel silences Apprise only while it sends: an application's own use of Apprise
    # keeps its records (here, once the channel's filters are in place).
    import apprise

    make_kit().send("push", to="alice", body="x")
    everything.clear()
    notifier = apprise.Apprise()
    notifier.add(receiver.url("app/own"))
    assert notifier.notify(body="x")
    assert any(r.name == "apprise" for r in everything.records)


def test_the_ledger_and_history_never_hold_the_token(make_kit, receiver, monkeypatch, tmp_path):
    receiver.answer("/bob", status=500)
    kit = make_kit()
    kit.send("push", to=["alice", "bob", "ops-room"], body="x")
    kit.submit("db.down", to="alice", channels="push", severity="critical")
    kit.worker(threads=1, poll=0.05).run(drain=True)
    history = kit.history(limit=0)
    assert [d.state for r in history for d in r.deliveries].count(DeliveryState.SENT) == 3
    kit.close()
    database = tmp_path / "ledger.db"
    for path in [database, *tmp_path.glob("ledger.db-*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    with sqlite3.connect(database) as db:
        addresses = {row[0] for row in db.execute("select address from deliveries")}
    assert addresses == {"alice", "bob", "ops"}  # the target's name, never its URL
    result = cli(tmp_path, "--json", "history", "--limit", "0", env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert '"alice"' in result.stdout and TOKEN not in result.stdout + result.stderr


def test_verbose_cli_output_never_shows_the_token(urls, receiver, tmp_path):
    receiver.answer("/bob", status=503)
    write_config(tmp_path)
    env = cli_env(tmp_path, **{f"NK_APPRISE_{n.upper()}": u for n, u in urls.items()})
    result = cli(
        tmp_path,
        "-v",
        "send",
        "text",
        "--channel",
        "push",
        "--to",
        "alice,bob",
        "--body",
        "x",
        env=env,
    )
    assert result.returncode == 4, result.stdout + result.stderr  # bob's is unknown
    assert "HTTP 503: it may have accepted the message" in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert len(receiver.wait_for(2)) == 2


def test_reprs_never_show_a_url(make_kit):
    kit = make_kit()
    account = kit.config.accounts["ap"].settings
    channel = kit.runtime.channels["push"]
    for shown in (repr(account), str(account), repr(channel), repr(channel.client)):
        assert TOKEN not in shown and "json://" not in shown, shown
