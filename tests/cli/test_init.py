"""``notifykit init``: onboarding without a clone, as real processes, and what the wheel ships."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from notifykit import __version__
from notifykit.cli.scaffold import CONFIG_NAME, skeleton_files
from tests.cli.support import EXAMPLE, ROOT
from tests.docs_support import canonical, installs

SKELETON = ROOT / "notifykit" / "cli" / "skeleton"


def notifykit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EXOTEL_", "NOTIFYKIT_"))}
    return subprocess.run(
        [sys.executable, "-m", "notifykit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


def test_init_then_check_then_sandbox_notify(tmp_path: Path) -> None:
    project = tmp_path / "app"
    written = notifykit("init", str(project), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    expected = {relative for relative, _ in skeleton_files()}
    assert {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()} == expected
    assert f"wrote {project / CONFIG_NAME}" in written.stdout
    assert "--sandbox" in written.stdout  # says what to try next

    # The config found as ./notifykit.yaml, as a user who cd's into the project runs it.
    account = {"EXOTEL_SID": "ACnew", "EXOTEL_TOKEN": "a-token-of-theirs"}
    checked = notifykit("config", "check", cwd=project, env=account)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK (1 account, 4 channels" in checked.stdout
    assert "warning" not in checked.stdout + checked.stderr  # no inline secret in the skeleton
    assert notifykit("--sandbox", "config", "check", cwd=project).returncode == 0

    sent = notifykit("--sandbox", "notify", "db.down", "--data", "host=db1", cwd=project)
    assert sent.returncode == 0, sent.stderr
    assert "db.down (critical): 4 deliveries: 4 sent" in sent.stdout
    assert "Traceback" not in sent.stderr
    rendered = notifykit("templates", "render", "otp.sms.j2", "-d", "otp=1234", cwd=project)
    assert rendered.returncode == 0, rendered.stderr
    assert "DLT: match ('1234', '10')" in rendered.stdout


def test_the_init_config_sends_a_plain_one_segment_sms_for_an_unknown_event(
    tmp_path: Path,
) -> None:
    """The default path of a new project: an event with no entry, routed to the defaults, and
    rendered by the shipped default template. No routing internals, no repr, one segment."""
    import json

    from notifykit.text.sms import analyze_sms

    assert notifykit("init", str(tmp_path / "app"), cwd=tmp_path).returncode == 0
    sent = notifykit(
        "--sandbox",
        "--json",
        "notify",
        "deploy.done",
        "--data",
        "version=1.2",
        cwd=tmp_path / "app",
    )
    assert sent.returncode == 0, sent.stderr
    report = json.loads(sent.stdout)
    body = report["messages"]["sms"]
    assert body == "WARNING deploy.done: version=1.2"
    for internal in ("alert_key=", "ack_url=", "alerts=", "receiver=", "{", "["):
        assert internal not in body
    assert analyze_sms(body).segments == 1
    assert [d["info"]["segments"] for d in report["deliveries"]] == [1, 1]


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text("version: 1  # mine\n")
    refused = notifykit("init", cwd=tmp_path)
    assert refused.returncode == 3
    assert f"not overwriting {CONFIG_NAME}" in refused.stderr and "--force" in refused.stderr
    assert (tmp_path / CONFIG_NAME).read_text() == "version: 1  # mine\n"
    assert not (tmp_path / "templates").exists()  # nothing half-written either

    forced = notifykit("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / CONFIG_NAME).read_bytes() == (SKELETON / CONFIG_NAME).read_bytes()


def test_the_skeleton_matches_the_repository_examples() -> None:
    """One set of examples: the skeleton's templates are the repository's, and its config is
    config.example.yaml under a header of its own."""
    for relative, source in skeleton_files()[1:]:
        assert source.read_bytes() == (ROOT / relative).read_bytes(), relative
    assert len(skeleton_files()) - 1 == len(list((ROOT / "templates").glob("*.j2")))
    example = EXAMPLE.read_text(encoding="utf-8")
    skeleton = (SKELETON / CONFIG_NAME).read_text(encoding="utf-8")
    body = example[example.index("version: 1") :]
    assert skeleton.endswith(body) and skeleton.startswith("# notifykit configuration, written by")


@pytest.mark.slow
def test_the_wheel_ships_every_module_and_the_skeleton(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("notifykit", "plugins"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for relative, _ in skeleton_files():
        assert f"notifykit/cli/skeleton/{relative}" in names
    # every module of the package and of the plugins we ship (a subpackage missing from
    # pyproject's list installs from a clone in editable mode and breaks from the wheel)
    sources = [
        (ROOT / "notifykit", "notifykit"),
        (ROOT / "plugins" / "notifykit_exotel", "notifykit_exotel"),
        (ROOT / "plugins" / "notifykit_webhook", "notifykit_webhook"),
    ]
    for root, package in sources:
        for module in root.rglob("*.py"):
            shipped = f"{package}/{module.relative_to(root).as_posix()}"
            assert shipped in names, f"{shipped} is not in the wheel: list its package in pyproject"

    # What the index knows it by: ours, not the unrelated project that owns "notifykit" there.
    [metadata_file] = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = archive.read(metadata_file).decode("utf-8")
    headers = [line.partition(": ") for line in metadata.split("\n\n", 1)[0].splitlines()]
    name = next(value for key, _, value in headers if key == "Name")
    version = next(value for key, _, value in headers if key == "Version")
    extras = {value for key, _, value in headers if key == "Provides-Extra"}
    assert canonical(name) == "notifykit-pager"
    assert version == __version__
    # The import package and the command keep their name.
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    points = archive.read(entry_points).decode("utf-8")
    assert "notifykit = notifykit.cli:main" in points
    # The plugins shipped with it are loaded as third-party ones are: by their entry points.
    assert "exotel = notifykit_exotel.plugin" in points
    assert "webhook = notifykit_webhook.plugin" in points
    assert "notifykit_webhook/py.typed" in names
    # Every install command of the docs, the example configs and the code that names a project
    # called notifykit-something names this wheel, with extras it has.
    ours = [i for i in installs() if not i.local and canonical(i.name).startswith("notifykit")]
    assert ours, "no install command names the distribution: the check below checks nothing"
    for install in ours:
        assert canonical(install.name) == canonical(name), (
            f"{install.where}: {install.command!r} installs {install.name!r}, not this "
            f"project's {name!r}"
        )
        assert set(install.extras) <= extras, f"{install.where}: no such extra in {sorted(extras)}"
