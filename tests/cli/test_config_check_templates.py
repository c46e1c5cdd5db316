"""``config check`` renders each template that has ``templates:`` settings with sample values and
runs the checks ``templates render`` runs (the channel types' ``inspect``: for Exotel SMS, the
DLT pattern), so a template edited away from its registered DLT text fails the check, with the
config's file and line, instead of failing the first alert."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.cli.support import ROOT, run


def config_with_templates(tmp_path: Path, config_file: Path) -> tuple[Path, Path]:
    """The example config over a copy of the example templates (to edit); and that copy."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    data = yaml.safe_load(config_file.read_text())
    data["templates"]["directory"] = str(templates)
    config_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return config_file, templates


def test_the_example_templates_match_their_dlt_patterns(config_file):
    checked = run("config", "check", str(config_file))
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip().endswith("2 templates, 2 events)")


def test_a_template_edited_away_from_its_dlt_pattern_is_a_problem_with_file_and_line(
    tmp_path, config_file
):
    config, templates = config_with_templates(tmp_path, config_file)
    sms = templates / "db_down.sms.j2"
    sms.write_text(sms.read_text().replace("is down since", "went down at"))
    line = config.read_text().splitlines().index("  db_down:") + 1

    checked = run("config", "check", str(config))
    assert checked.exit_code == 3, checked.output
    [problem] = checked.stdout.splitlines()
    assert problem.startswith(f"{config}:{line}: templates.db_down: db_down.sms ({sms})")
    assert "sample values" in problem and "DLT: MISMATCH" in problem
    assert "went down at" in problem  # where the text departs from the registered one
    assert "1 problem" in checked.stderr

    as_json = json.loads(run("--json", "config", "check", str(config)).stdout)
    assert as_json["ok"] is False
    [found] = as_json["problems"]
    assert (found["file"], found["line"], found["path"]) == (str(config), line, "templates.db_down")

    # notify agrees: the same template is refused at send time, for the same reason.
    refused = run("-c", str(config), "--dry-run", "notify", "db.down", "--data", "host=db1")
    assert refused.exit_code == 3 and "does not match its DLT template" in refused.stderr


def test_variables_a_template_requires_get_sample_values(tmp_path, config_file):
    config, templates = config_with_templates(tmp_path, config_file)
    # Top-level names (every data key is one) and data.x alike, none with a default.
    (templates / "otp.sms.j2").write_text(
        "{{ otp }} is your ACME verification code. It is valid for {{ data.valid_minutes }} "
        "minutes. Do not share it with anyone. -ACME\n"
    )
    checked = run("config", "check", str(config))
    assert checked.exit_code == 0, checked.output


def test_a_template_sample_values_cannot_render_is_noted_not_failed(tmp_path, config_file):
    config, templates = config_with_templates(tmp_path, config_file)
    sms = templates / "db_down.sms.j2"
    # ist needs a real time: a sample string cannot stand in for it.
    sms.write_text(sms.read_text().replace("data.since | default(now) | ist", "data.since | ist"))
    checked = run("config", "check", str(config))
    assert checked.exit_code == 0, checked.output
    assert "note: templates.db_down: db_down.sms could not be rendered with sample values" in (
        checked.stdout
    )
    assert "templates render db_down.sms" in checked.stdout
    as_json = json.loads(run("--json", "config", "check", str(config)).stdout)
    assert as_json["ok"] is True and len(as_json["notes"]) == 1
