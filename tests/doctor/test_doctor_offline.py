"""``notifykit doctor`` offline: India's DLT rules and the SMS ids, each problem planted in an
otherwise healthy config; findings with file, line and key path; exit codes as ``config
check``'s. Offline asks no API: the simulator the account points at sees no request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifykit_exotel.simulator import ExotelSimulator
from tests.doctor.support import SID, TOKEN, Project, doctor, make_project


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=SID, token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def project(tmp_path: Path, sim: ExotelSimulator) -> Iterator[Project]:
    yield make_project(tmp_path, sim.base_url)
    assert sim.requests == [], "an offline doctor asked the provider"


def where(project: Project, needle: str, path: str) -> str:
    return f"{project.path}:{project.line(needle)}: {path}: "


def test_a_healthy_config_passes_with_no_findings(project: Project) -> None:
    run = doctor(project)
    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        f"{project.path}: OK (checks: exotel.dlt, exotel.sms-ids, msg91.dlt, twilio.config; offline: --online also asks "
        "the providers)"
    ]


def test_more_varying_parts_than_registered_variables_is_an_error(project: Project) -> None:
    project.template(
        "db_down.sms.j2",
        "ALERT {{ severity | upper }}: database {{ data.host }} is down.\n"
        "Since {{ data.since }}. -ACME Ops",
    )
    run = doctor(project)
    assert run.code == 3
    (error,) = run.lines("error")
    assert error.startswith("error: " + where(project, "  db_down:", "templates.db_down"))
    assert "3 stretches of text that vary (starting on lines 1, 2)" in error
    assert "its registered DLT text has 2 {#var#}" in error
    assert f"{project.path}: 1 error" in run.stderr


def test_adjacent_variables_are_a_warning_and_strict_fails_on_it(project: Project) -> None:
    project.template(
        "db_down.sms.j2", "ALERT {{ severity }}: database {{ data.host }}{{ data.port }} is down."
    )
    project.replace(
        'dlt_pattern: "ALERT {#var#}: database {#var#} is down. -ACME Ops"',
        'dlt_pattern: "ALERT {#var#}: database {#var#} is down."',
    )
    run = doctor(project)
    assert run.code == 0, run.stdout
    (warning,) = run.lines("warning")
    assert warning.startswith("warning: " + where(project, "  db_down:", "templates.db_down"))
    assert "2 varying parts with no fixed text between them (line 1)" in warning
    assert "DLT forbids two {#var#} in a row" in warning
    assert doctor(project, "--strict").code == 3


def test_adjacent_variables_in_the_registered_text_are_a_config_problem(project: Project) -> None:
    project.replace("database {#var#} is down", "database {#var#}{#var#} is down")
    run = doctor(project)
    assert run.code == 3
    (error,) = run.lines("error")
    assert "templates.db_down.dlt_pattern" in error
    assert "placeholders 2 and 3 next to each other" in error
    assert "nothing else was checked" in run.stderr


def test_a_template_without_dlt_registration_is_a_warning(project: Project) -> None:
    project.template("generic.sms.j2", "Alert: {{ event }} on {{ data.host }}")
    project.replace("    template: db_down\n    channels", "    template: generic\n    channels")
    run = doctor(project)
    assert run.code == 0
    (warning,) = run.lines("warning")
    assert warning.startswith(
        "warning: " + where(project, "  db.down:", "events.db.down") + "generic.sms, which "
        "channel sms sends (events.db.down), has no DLT registration in the config"
    )
    assert "templates.generic.dlt_template_id and dlt_pattern" in warning


def test_a_template_id_without_its_pattern_is_a_warning(project: Project) -> None:
    project.replace('    dlt_pattern: "ALERT {#var#}: database {#var#} is down. -ACME Ops"\n', "")
    run = doctor(project)
    (warning,) = run.lines("warning")
    assert "has a dlt_template_id but no dlt_pattern" in warning
    assert "templates.db_down: " in warning


def test_a_link_in_a_template_is_flagged_for_dlt_whitelisting(project: Project) -> None:
    project.template(
        "db_down.sms.j2",
        "ALERT {{ severity }}: database {{ data.host }} is down. Runbook: "
        "https://wiki.example.com/db. -ACME Ops",
    )
    project.replace(
        'is down. -ACME Ops"', 'is down. Runbook: https://wiki.example.com/db. -ACME Ops"'
    )
    run = doctor(project)
    assert run.code == 0
    (warning,) = run.lines("warning")
    assert warning.startswith("warning: " + where(project, "  db_down:", "templates.db_down"))
    assert "carries a link to wiki.example.com (https://wiki.example.com/db)" in warning
    assert "not whitelisted on the DLT portal" in warning
    assert "whitelist wiki.example.com on your DLT portal" in warning
    assert "channels.sms.dlt_whitelisted_domains" in warning
    assert doctor(project, "--strict").code == 3
    # Listed as whitelisted: a note, which never fails the check.
    project.replace(
        '    dlt_entity_id: "1201177860312735154"\n',
        '    dlt_entity_id: "1201177860312735154"\n    dlt_whitelisted_domains: [example.com]\n',
    )
    run = doctor(project, "--strict")
    assert run.code == 0, run.stdout
    (note,) = run.lines("note")
    assert "listed in channels.sms.dlt_whitelisted_domains" in note


ESCALATION = """\
receivers:
  page: {escalation: night}
route:
  receiver: page
escalations:
  night:
    steps:
      - {after: 0s, channels: [sms], to: [alice]}
      - {after: 5m, channels: [call], to: [bob]}
server:
  public_url: https://alerts.example.com/notifykit
  webhook_token: none
"""


def test_the_ack_link_of_an_escalation_is_flagged_at_public_url(project: Project) -> None:
    project.template(
        "db_down.sms.j2",
        "ALERT {{ severity }}: database {{ data.host }} is down. Ack {{ ack_url }} -ACME Ops",
    )
    project.replace('is down. -ACME Ops"', 'is down. Ack {#var#} -ACME Ops"')
    project.text += ESCALATION
    run = doctor(project)
    assert run.code == 0, run.stdout + run.stderr
    (warning,) = run.lines("warning")
    assert warning.startswith(
        "warning: " + where(project, "public_url:", "server.public_url") + "db_down.sms, which "
        "channel sms sends (escalations.night.steps[0]), carries a link to alerts.example.com "
        "(the ack link, https://alerts.example.com/notifykit/ack/...)"
    )
    # Without public_url there is no ack link, so nothing to whitelist.
    project.replace("  public_url: https://alerts.example.com/notifykit\n", "")
    assert doctor(project).lines("warning") == []


def test_a_missing_entity_id_is_a_warning(project: Project) -> None:
    project.replace('    dlt_entity_id: "1201177860312735154"\n', "")
    run = doctor(project)
    (warning,) = run.lines("warning")
    assert warning.startswith("warning: " + where(project, "  sms:", "channels.sms"))
    assert "sends no DLT entity id" in warning
    assert "set channels.sms.dlt_entity_id" in warning


def test_a_sender_that_does_not_fit_the_sms_type_is_an_error(project: Project) -> None:
    project.replace("sms_type: transactional", "sms_type: promotional")
    run = doctor(project)
    assert run.code == 3
    (error,) = run.lines("error")
    assert error.startswith(
        "error: " + where(project, "default: {from: NKALRT}", "channels.sms.senders.default.from")
    )
    assert "promotional SMS (templates.db_down.sms_type)" in error
    project.replace("sms_type: promotional", "sms_type: transactional")
    project.replace("{from: NKALRT}", '{from: "600123"}')
    (error,) = doctor(project).lines("error")
    assert "numeric (promotional) header" in error
    project.replace('{from: "600123"}', "{from: NKALERTS}")
    (warning,) = doctor(project).lines("warning")
    assert "sender NKALERTS is not a DLT header" in warning


def test_json_lists_findings_with_their_check(project: Project) -> None:
    project.replace('    dlt_entity_id: "1201177860312735154"\n', "")
    run = doctor(project, "--json")
    assert run.code == 0
    data = run.json()
    assert data["ok"] is True and data["online"] is False and data["strict"] is False
    assert data["checks"] == ["exotel.dlt", "exotel.sms-ids", "msg91.dlt", "twilio.config"]
    assert (data["errors"], data["warnings"], data["notes"]) == (0, 1, 0)
    (finding,) = data["findings"]
    assert finding["check"] == "exotel.sms-ids"
    assert finding["severity"] == "warning"
    assert (finding["file"], finding["line"], finding["path"]) == (
        str(project.path),
        project.line("  sms:"),
        "channels.sms",
    )
    assert doctor(project, "--json", "--strict").json()["ok"] is False


def test_check_selects_checks_and_an_unknown_name_is_a_usage_error(project: Project) -> None:
    project.replace('    dlt_entity_id: "1201177860312735154"\n', "")
    assert doctor(project, "--check", "exotel.dlt").lines("warning") == []
    run = doctor(project, "--check", "exotel.dtl")
    assert run.code == 3
    assert "no check named 'exotel.dtl' (did you mean 'exotel.dlt'?)" in run.stderr


def test_online_refuses_sandbox(project: Project) -> None:
    path = project.write()
    from click.testing import CliRunner

    from notifykit.cli import cli

    result = CliRunner().invoke(cli, ["--config", str(path), "--sandbox", "doctor", "--online"])
    assert result.exit_code == 3
    assert "--online asks the real accounts" in result.stderr
