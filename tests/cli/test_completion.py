"""Shell completion as a shell runs it: ``notifykit`` in a subprocess with click's completion
variables set (``_NOTIFYKIT_COMPLETE``, ``COMP_WORDS``, ``COMP_CWORD``), completing names from the
config without needing its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.support import ROOT


def complete(words: str, *, shell: str = "bash", cwd: Path | None = None) -> list[str]:
    """What ``notifykit`` offers for the last word of ``words`` (a trailing space: a new word)."""
    env = {k: v for k, v in os.environ.items() if k not in ("EXOTEL_TOKEN", "NK_CLI_KEY")}
    parts = words.split()
    cword = len(parts) if words.endswith(" ") else len(parts) - 1
    env.update(
        _NOTIFYKIT_COMPLETE=f"{shell}_complete",
        COMP_WORDS=words,
        COMP_CWORD=str(cword),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
    )
    result = subprocess.run(
        [sys.executable, "-m", "notifykit"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # never a traceback or a warning in the middle of a command line
    if shell == "bash":
        return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]
    return result.stdout.splitlines()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("notifykit notify ", ["db.down", "login.otp"]),
        ("notifykit notify d", ["db.down"]),
        ("notifykit submit l", ["login.otp"]),
        ("notifykit routes test ", ["db.down", "login.otp"]),
        ("notifykit notify db.down --to ", ["alice", "bob", "everyone", "oncall"]),
        ("notifykit notify db.down --to o", ["oncall"]),
        ("notifykit submit db.down -t a", ["alice"]),
        ("notifykit notify db.down --channel ", ["call", "console", "ivr", "sms"]),
        ("notifykit send sms --channel s", ["sms"]),
        ("notifykit send sms --to b", ["bob"]),
    ],
)
def test_completes_names_from_the_config(config_file, words, expected):
    assert complete(words) == expected  # ./notifykit.yaml, without EXOTEL_TOKEN set


def test_completes_with_the_config_named_on_the_command_line(config_file, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert complete(f"notifykit -c {config_file} notify d", cwd=elsewhere) == ["db.down"]
    assert complete(f"notifykit notify --config {config_file} d", cwd=elsewhere) == ["db.down"]
    assert complete("notifykit notify d", cwd=elsewhere) == []  # no config: nothing, no error


def test_zsh_completion_too(config_file):
    lines = complete("notifykit notify --to al", shell="zsh")
    assert lines[:2] == ["plain", "alice"]


def test_the_documented_activation_line_works():
    env = {**os.environ, "_NOTIFYKIT_COMPLETE": "bash_source"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins")])
    result = subprocess.run(
        [sys.executable, "-m", "notifykit"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0 and "_notifykit_completion()" in result.stdout
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_NOTIFYKIT_COMPLETE={shell}_source notifykit" in docs
