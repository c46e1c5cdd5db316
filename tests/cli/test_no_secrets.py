"""What needs no secrets: ``--dry-run``, ``routes tree``, ``routes test`` and ``config check``
run on a config whose ``${VAR}`` secrets are unset (CI has the file, not the credentials); each
unset variable is a warning there, and shown as unset in the output. Commands that send
(``notify``, ``submit``, ``worker``, ``serve``) still refuse with the clear error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.support import EXAMPLE, ROOT, run

SID_UNSET = (
    "accounts.exotel-main.sid: environment variable EXOTEL_SID not set (read here as "
    "${EXOTEL_SID}): fine for this run, which sends nothing; set it before notify, submit, worker "
    "or serve"
)
TOKEN_UNSET = SID_UNSET.replace("sid:", "token:").replace("EXOTEL_SID", "EXOTEL_TOKEN")


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXOTEL_SID")
    monkeypatch.delenv("EXOTEL_TOKEN")
    monkeypatch.delenv("EXOTEL_API_KEY", raising=False)


@pytest.fixture
def skeleton(tmp_path: Path) -> Path:
    """What ``notifykit init`` writes, as a new user has it."""
    assert run("init", str(tmp_path / "project")).exit_code == 0
    return tmp_path / "project" / "notifykit.yaml"


@pytest.mark.usefixtures("no_secrets")
@pytest.mark.parametrize("config", ["skeleton", "example"])
def test_dry_run_and_routes_need_no_secrets(request, config):
    path = str(request.getfixturevalue("skeleton") if config == "skeleton" else EXAMPLE)
    dry = run("-c", path, "--dry-run", "notify", "db.down", "--data", "host=db1")
    assert dry.exit_code == 0, dry.output
    assert "dry-run" in dry.stdout and "sms message:" in dry.stdout
    warnings = [line for line in dry.stderr.splitlines() if line.startswith("warning: ")]
    assert [w.split(": ", 2)[2] for w in warnings] == [SID_UNSET, TOKEN_UNSET]

    tree = run("-c", path, "routes", "tree")
    assert tree.exit_code == 0, tree.output
    assert 'event="db.down" -> events.db.down' in tree.stdout

    tested = run("-c", path, "routes", "test", "db.down", "--expect", "events.db.down")
    assert tested.exit_code == 0, tested.output
    wrong = run("-c", path, "routes", "test", "db.down", "--expect", "nobody")
    assert wrong.exit_code == 1  # --expect still checks: CI can rely on it without credentials

    as_json = run("-c", path, "--json", "routes", "test", "db.down")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["receivers"] == ["events.db.down"]


@pytest.mark.usefixtures("no_secrets")
def test_config_check_warns_of_unset_secrets_and_strict_fails(skeleton):
    checked = run("config", "check", str(skeleton))
    assert checked.exit_code == 0, checked.output
    lines = checked.stdout.splitlines()
    text = skeleton.read_text().splitlines()
    sid = 1 + next(i for i, line in enumerate(text) if line.startswith("    sid: ${EXOTEL_SID}"))
    token = 1 + next(i for i, line in enumerate(text) if line.startswith("    token: ${EXOTEL_TO"))
    assert lines[:2] == [
        f"warning: {skeleton}:{sid}: {SID_UNSET}",
        f"warning: {skeleton}:{token}: {TOKEN_UNSET}",
    ]
    assert lines[2].endswith(", 2 warnings")
    strict = run("config", "check", str(skeleton), "--strict")
    assert strict.exit_code == 3
    assert "2 warnings (--strict)" in strict.stderr
    as_json = json.loads(run("--json", "config", "check", str(skeleton)).stdout)
    assert as_json["ok"] is True and [w["path"] for w in as_json["warnings"]] == [
        "accounts.exotel-main.sid",
        "accounts.exotel-main.token",
    ]


@pytest.mark.usefixtures("no_secrets")
@pytest.mark.parametrize(
    "command",
    [
        ["notify", "db.down", "--data", "host=db1"],
        ["submit", "db.down", "--data", "host=db1"],
        ["worker", "--drain"],
        ["serve", "--port", "0"],
        ["reconcile"],
        ["status", "0123456789abcdef"],
    ],
    ids=["notify", "submit", "worker", "serve", "reconcile", "status"],
)
def test_commands_that_send_still_need_the_secrets(skeleton, command):
    result = run("-c", str(skeleton), *command)
    assert result.exit_code == 3, result.output
    assert "environment variable EXOTEL_SID not set (read here as ${EXOTEL_SID}): set it in " in (
        result.stderr
    )
    assert "fine for this run" not in result.stderr


@pytest.mark.usefixtures("no_secrets")
@pytest.mark.parametrize("command", ["worker", "serve", "reconcile", "status"])
def test_what_may_reach_the_provider_refuses_a_dry_run_without_secrets(skeleton, command):
    # --dry-run loads the config without its secrets; what would still talk to Exotel (the
    # worker sends, reconcile looks up...) must refuse rather than send with <unset:...>.
    args = {"status": ["0123456789abcdef"], "worker": ["--drain"], "serve": ["--port", "0"]}
    result = run("-c", str(skeleton), "--dry-run", command, *args.get(command, []))
    assert result.exit_code == 3, result.output
    if command in ("worker", "serve"):
        assert "cannot be a dry run: drop --dry-run" in result.stderr
    else:
        assert "environment variable EXOTEL_SID not set" in result.stderr


@pytest.mark.usefixtures("no_secrets")
def test_unset_values_show_as_unset(tmp_path, monkeypatch):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["channels"]["sms"]["senders"]["default"]["from"] = "${NK_SMS_SENDER}"
    data["channels"]["ivr"]["caller_id"] = "${NK_EXOPHONE}"
    data["accounts"]["exotel-main"]["timeout"] = "${NK_TIMEOUT}"  # a number: its default
    data["templates"]["directory"] = str(ROOT / "templates")
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    tested = run("-c", str(path), "--json", "routes", "test", "disk.full", "--severity", "error")
    assert tested.exit_code == 0, tested.output
    froms = {d["channel"]: d["from"] for d in json.loads(tested.stdout)["deliveries"]}
    assert froms["sms"] == "<unset:${NK_SMS_SENDER}>"
    unset = [line for line in tested.stderr.splitlines() if "NK_" in line]
    assert len(unset) == 3 and "accounts.exotel-main.timeout: " in unset[0]

    called = run("-c", str(path), "--json", "routes", "test", "db.down", "--severity", "critical")
    assert called.exit_code == 0, called.output
    froms = {d["channel"]: d["from"] for d in json.loads(called.stdout)["deliveries"]}
    assert froms["ivr"] == "<unset:${NK_EXOPHONE}>"
