"""What the doctor tests share: a healthy config for India (as text, so findings' lines can be
checked), its templates, and a runner for ``notifykit doctor``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from notifykit.cli import cli

TOKEN = "doctor-token-very-secret"
SID = "ACdoc"
EXOPHONE = "08047112345"
ALICE = "+919876543210"
BOB = "+919876543211"
BRIDGE = "+919800000001"

#: A config a careful team would ship: registered DLT template, entity id, sender header,
#: an ExoPhone as caller id, numbers not on DND. BASE_URL is replaced by the simulator's.
CONFIG = """\
version: 1
defaults:
  channels: [sms]
  to: [oncall]
  template: db_down
accounts:
  main:
    provider: exotel
    sid: ACdoc
    token: ${DOCTOR_TOKEN}
    base_url: BASE_URL
channels:
  sms:
    type: exotel-sms
    account: main
    dlt_entity_id: "1201177860312735154"
    senders:
      default: {from: NKALRT}
  call:
    type: exotel-call
    account: main
    caller_id: "08047112345"
    connect_to: "+919800000001"
recipients:
  alice:
    phone: "+919876543210"
  bob:
    phone: "+919876543211"
groups:
  oncall: [alice, bob]
templates:
  directory: templates
  db_down:
    dlt_template_id: "1207161234567890123"
    sms_type: transactional
    dlt_pattern: "ALERT {#var#}: database {#var#} is down. -ACME Ops"
events:
  db.down:
    template: db_down
    channels: [sms, call]
    to: [oncall]
"""

TEMPLATES = {
    "db_down.sms.j2": "ALERT {{ severity | upper }}: database {{ data.host }} is down. -ACME Ops",
}


@dataclass
class Project:
    """A config file and its templates in a directory; edit the text, then run doctor."""

    directory: Path
    text: str

    @property
    def path(self) -> Path:
        return self.directory / "notifykit.yaml"

    def write(self) -> Path:
        self.path.write_text(self.text, encoding="utf-8")
        return self.path

    def replace(self, old: str, new: str) -> None:
        assert self.text.count(old) == 1, f"{old!r} is not in the config once"
        self.text = self.text.replace(old, new)

    def template(self, name: str, text: str) -> None:
        (self.directory / "templates" / name).write_text(text, encoding="utf-8")

    def line(self, needle: str) -> int:
        """The line of the config text that holds ``needle`` (once)."""
        found = [n for n, line in enumerate(self.text.splitlines(), 1) if needle in line]
        assert len(found) == 1, f"{needle!r} is on lines {found}"
        return found[0]


def make_project(directory: Path, base_url: str) -> Project:
    (directory / "templates").mkdir()
    for name, text in TEMPLATES.items():
        (directory / "templates" / name).write_text(text, encoding="utf-8")
    return Project(directory, CONFIG.replace("BASE_URL", base_url))


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def lines(self, severity: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"{severity}: ")]

    def json(self) -> Any:
        return json.loads(self.stdout)


def doctor(project: Project, *args: str) -> Run:
    """``notifykit --config FILE doctor ARGS`` in-process; the token must show up nowhere."""
    path = project.write()
    result = CliRunner().invoke(
        cli, ["--config", str(path), "doctor", *args], catch_exceptions=False
    )
    assert TOKEN not in result.output
    return Run(result.exit_code, result.stdout, result.stderr)
