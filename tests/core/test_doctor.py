"""The core of ``notifykit doctor``: the ``register_checks`` hook, the runner and what it
guarantees whatever a plugin's check does (a check that raises is an error, not a pass; a
secret in a finding is scrubbed; findings get the file and line of their key path)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier, hookimpl
from notifykit.checks import Check, CheckContext, Finding
from notifykit.doctor import diagnose, key_lines
from notifykit.errors import NotifykitError, PluginError
from notifykit.plugins import Registry, get_plugin_manager

CONFIG = """\
defaults:
  channels: [console]
  to: [oncall]
  template: note
channels:
  console:
    type: console
recipients:
  alice:
    phone: "+919876543210"
  bob:
    phone: "+919876543211"
groups:
  oncall: [alice, bob]
events:
  db.down:
    template: note
    to: [alice]
"""


def plugin(*checks: Check) -> types.SimpleNamespace:
    @hookimpl
    def register_checks(register: Any) -> None:
        for check in checks:
            register(check)

    return types.SimpleNamespace(register_checks=register_checks)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "note.sms.j2").write_text("Note: {{ event }}")
    (tmp_path / "note.txt.j2").write_text("Note: {{ event }}")
    path = tmp_path / "notifykit.yaml"
    path.write_text(CONFIG + f"templates:\n  directory: {tmp_path}\n")
    return path


def run(config_file: Path, *checks: Check, exotel: bool = False, **options: Any) -> Any:
    """Diagnose with the built-in plugins and ``checks`` (and the Exotel plugin if asked)."""
    pm = get_plugin_manager(load_entrypoints=exotel, plugins=[plugin(*checks)])
    with Notifier.from_config(config_file, dry_run=True, plugin_manager=pm) as kit:
        return diagnose(kit, **options)


def test_hook_register_checks_runs_each_check_with_file_line_and_path(config_file: Path) -> None:
    def phones(ctx: CheckContext) -> Iterator[Finding]:
        for name, person in ctx.config.recipients.items():
            if person.phone.endswith("11"):
                yield ctx.finding("warning", f"recipients.{name}.phone", "a test number")

    diagnosis = run(config_file, Check("acme.phones", phones, "no test numbers"))
    assert diagnosis.checks == ("acme.phones",)
    (finding,) = diagnosis.findings
    assert finding == Finding(
        "warning", "recipients.bob.phone", "a test number", str(config_file), 12, "acme.phones"
    )
    assert str(finding) == f"warning: {config_file}:12: recipients.bob.phone: a test number"
    assert diagnosis.ok() and not diagnosis.ok(strict=True)


def test_a_check_that_raises_is_an_error_and_the_others_still_run(config_file: Path) -> None:
    def broken(ctx: CheckContext) -> list[Finding]:
        raise KeyError("oops")

    def fine(ctx: CheckContext) -> list[Finding]:
        return [Finding("note", "defaults", "looked")]

    diagnosis = run(config_file, Check("acme.broken", broken), Check("acme.fine", fine))
    assert not diagnosis.ok()
    error, note = diagnosis.findings
    assert error.severity == "error" and error.check == "acme.broken"
    assert "check acme.broken (plugin " in error.message and "KeyError: 'oops'" in error.message
    assert note.check == "acme.fine" and note.line == 1  # filled in from the path


def test_secrets_are_scrubbed_from_findings(tmp_path: Path, monkeypatch: Any) -> None:
    from notifykit_exotel.simulator import ExotelSimulator

    monkeypatch.setenv("CORE_DOCTOR_TOKEN", "core-doctor-secret-token")
    with ExotelSimulator(sid="ACcore", token="core-doctor-secret-token") as sim:
        path = tmp_path / "notifykit.yaml"
        path.write_text(
            "accounts:\n  main:\n    provider: exotel\n    sid: ACcore\n"
            f"    token: ${{CORE_DOCTOR_TOKEN}}\n    base_url: {sim.base_url}\n"
        )

        def leaky(ctx: CheckContext) -> list[Finding]:
            token = ctx.config.accounts["main"].settings["token"]
            return [ctx.finding("error", f"accounts.main.{token}", f"the token is {token}")]

        diagnosis = run(path, Check("acme.leaky", leaky), exotel=True, checks=["acme.leaky"])
    (finding,) = diagnosis.findings
    assert "core-doctor-secret-token" not in finding.message + finding.path
    assert finding.message == "the token is ***"


def test_online_checks_run_only_online_and_offline_ones_get_no_client(config_file: Path) -> None:
    seen: list[str] = []

    def online(ctx: CheckContext) -> list[Finding]:
        seen.append("online")
        return []

    def offline(ctx: CheckContext) -> list[Finding]:
        ctx.client("main")
        return []

    assert run(config_file, Check("acme.online", online, online=True)).checks == ()
    assert seen == []
    with pytest.raises(NotifykitError, match="asks the provider's API: run it with --online"):
        run(config_file, Check("acme.online", online, online=True), checks=["acme.online"])
    assert run(config_file, Check("acme.online", online, online=True), online=True).checks == (
        "acme.online",
    )
    (error,) = run(config_file, Check("acme.offline", offline)).findings
    assert "an offline doctor run has no provider clients" in error.message


def test_uses_follow_events_defaults_and_escalations(config_file: Path) -> None:
    config_file.write_text(
        config_file.read_text()
        + "receivers:\n  page: {escalation: night}\nroute:\n  receiver: page\n"
        "escalations:\n  night:\n    steps:\n      - {after: 0s, channels: [console], to: [bob]}\n"
    )
    found: list[Any] = []

    def uses(ctx: CheckContext) -> list[Finding]:
        found.extend(ctx.uses())
        return []

    run(config_file, Check("acme.uses", uses))
    shown = [(u.path, u.channel, u.template, [r.name for r in u.recipients], u.escalation)
             for u in found]  # fmt: skip
    assert shown == [
        ("escalations.night.steps[0]", "console", "note", ["bob"], True),
        ("events.db.down", "console", "note", ["alice"], False),
        ("defaults", "console", "note", ["alice", "bob"], False),
    ]


def test_a_check_name_registered_twice_is_a_plugin_error() -> None:
    check = Check("acme.twice", lambda ctx: [])
    pm = get_plugin_manager(load_entrypoints=False, plugins=[plugin(check), plugin(check)])
    with pytest.raises(PluginError, match=r"check 'acme\.twice' is registered twice"):
        Registry.from_manager(pm)


def test_an_unknown_check_name_is_refused(config_file: Path) -> None:
    with pytest.raises(NotifykitError, match=r"no check named 'acme\.nope'"):
        run(config_file, Check("acme.yes", lambda ctx: []), checks=["acme.nope"])


def test_finding_severity_is_checked() -> None:
    with pytest.raises(ValueError, match="severity is one of error, warning, note"):
        Finding("fatal", "", "x")  # type: ignore[arg-type]


def test_key_lines_follow_mappings_lists_and_merges() -> None:
    text = (
        "base: &b\n  from: NKALRT\n  priority: high\n"
        "channels:\n  sms:\n    senders:\n      default:\n        <<: *b\n        priority: normal\n"
        "groups:\n  oncall: [alice,\n    bob]\n"
    )
    lines = key_lines(text)
    assert lines["channels.sms.senders.default"] == 7
    assert lines["channels.sms.senders.default.priority"] == 9  # written out: wins
    assert lines["channels.sms.senders.default.from"] == 2  # merged: where it is written
    assert lines["groups.oncall[1]"] == 12
    assert key_lines("a: [") == {}
