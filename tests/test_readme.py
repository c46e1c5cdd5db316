"""The README's commands and examples are the ones that work: run them, don't trust them."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_support import INSTALL_SOURCES, canonical, installs, pyproject_name_and_extras

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.S)


def test_quickstart_demo_command_runs_end_to_end() -> None:
    """The quickstart's first command (after its install step) against the simulator."""
    install, demo = (part.strip() for part in shell_blocks()[0].strip().split("&&", 1))
    assert install == "python -m pip install ."
    argv = shlex.split(demo)
    assert argv[0] == "notifykit"
    assert "--sandbox" in argv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXOTEL_", "NOTIFYKIT_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "notifykit", *argv[1:]],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    sent = [
        line.split()
        for line in completed.stdout.splitlines()
        if line.startswith("  ") and " sent " in line
    ]
    assert len(sent) >= 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", fields[5]) for fields in sent)  # Exotel Sids


def test_quickstart_test_command_is_what_ci_runs() -> None:
    command = shell_blocks()[1].strip()
    assert command == "python -m pip install -e '.[test]' && python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci.splitlines()


def test_ci_removes_an_install_under_the_old_name_first() -> None:
    """An install made before the rename (distribution `notifykit`) would stay beside
    notifykit-pager; .ci/run uninstalls it, only when present, and before installing (both own the
    `notifykit` command, which uninstalling it afterwards would delete)."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    guard = lines.index("if python -m pip show --quiet notifykit >/dev/null 2>&1; then")
    assert lines[guard + 1].strip() == "python -m pip uninstall --yes notifykit"
    assert lines[guard + 2] == "fi"
    install = next(i for i, line in enumerate(lines) if line.startswith("python -m pip install"))
    assert guard < install


def test_install_commands_name_this_distribution() -> None:
    """Every `pip install` in the docs, the example configs and the code's messages installs this
    checkout or this project's distribution, with extras it has: never `notifykit`, which on the
    package index is another project."""
    name, extras = pyproject_name_and_extras()
    assert canonical(name) == "notifykit-pager"
    found = installs()
    assert any(i.name == "." for i in found) and any(i.name == name for i in found)
    for install in found:
        if install.local or canonical(install.name).startswith("notifykit"):
            assert install.local or canonical(install.name) == canonical(name), (
                f"{install.where}: {install.command!r} installs {install.name!r}, not {name!r}"
            )
            assert set(install.extras) <= extras, f"{install.where}: no such extra {install.extras}"
    # an extra spelled with the old name outside a pip command (`notifykit[postgres]`) too
    for source in INSTALL_SOURCES:
        text = source.read_text(encoding="utf-8")
        for match in re.finditer(r"(?<![\w-])notifykit\[", text):
            line = text.count("\n", 0, match.start()) + 1
            raise AssertionError(
                f"{source.relative_to(ROOT)}:{line}: notifykit[...] is another project's"
            )


def test_readme_config_example_is_valid(tmp_path: Path) -> None:
    notifykit = pytest.importorskip("notifykit")
    block = re.search(r"```yaml\n(.*?)```", README, re.S)
    assert block is not None
    config = tmp_path / "notifykit.yaml"
    config.write_text(
        block.group(1).replace("directory: templates", f"directory: {ROOT / 'templates'}"),
        encoding="utf-8",
    )
    kit = notifykit.Notifier.from_config(str(config), sandbox=True)
    try:
        report = kit.notify("db.down", data={"host": "db1"})
        assert report.ok, report.summary()
        assert {d.channel for d in report.deliveries} == {"sms", "ivr"}
    finally:
        kit.close()


def test_readme_routing_example_routes_as_it_says(tmp_path: Path) -> None:
    notifykit = pytest.importorskip("notifykit")
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    [routing] = [b for b in blocks if "inhibit_rules:" in b]
    config = tmp_path / "notifykit.yaml"
    config.write_text(routing, encoding="utf-8")
    kit = notifykit.Notifier.from_config(str(config), sandbox=True)
    try:
        explained = kit.explain(
            "db.down", severity="critical", labels={"host": "db1", "service": "db"}
        ).to_dict()
        assert explained["key"] == "db.down{host=db1}"
        assert explained["receivers"] == ["dba", "page-primary"]
        report = kit.notify("db.down", severity="critical", labels={"host": "db1", "service": "db"})
        assert report.ok and {d.channel for d in report.deliveries} == {"sms", "call"}
    finally:
        kit.close()
