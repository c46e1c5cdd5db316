"""The code blocks of README.md and docs/*.md run as they are written, so an example that has
drifted from the code fails here.

Every fenced block names its language. ``python``, ``sh`` and ``console`` blocks are examples that
run, each in its own copy of a project made by ``notifykit init``, whose Exotel account points at
a simulator this module starts (``EXOTEL_SID``/``EXOTEL_TOKEN`` set to its credentials, the
config's commented ``base_url`` line set to it), so nothing needs an account, the examples run
unchanged (they build Notifiers from ``notifykit.yaml``, without ``sandbox=True``) and their
requests cross a real socket; commands with ``--sandbox`` start their own simulator as usual:

- a python block is a program run by a fresh interpreter in the project; one that defines
  ``test_`` functions is a test module run by pytest there; one that implements hooks
  (``@hookimpl``) is a plugin, loaded with ``get_plugin_manager(plugins=[module])`` (so a hook or
  argument that does not exist fails) and registered, and each channel type it registers that
  needs no settings sends a notification through the sandbox;
- a sh or console block (the ``$`` lines of a console block) is run line by line through the
  CLI in a subprocess (see ``run_shell_block``).

A block deliberately not run says why in a marker on the line before its fence,
``<!-- not-run: reason -->`` (fragments, servers that run until stopped, an Exotel account);
``<!-- continues -->`` appends a python block to the one before it on the page (one program
split for reading). Other languages (``yaml``, ``toml``, ``text``, ``jinja``) are not run here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifykit_exotel.simulator import ExotelSimulator
from tests.docs_support import ROOT, Block, all_blocks

RUN_LANGS = {"python", "sh", "console"}
DATA_LANGS = {"yaml", "toml", "text", "jinja"}  # YAML configs are checked by tests/test_readme.py

# Commands that serve until they are stopped: their documented options are checked (`--help`
# after them parses every option first), but they are not started.
SERVERS = {"serve", "simulator"}  # and `worker` without --drain

# An id in a command (`notifykit history 01M8SK...`) stands for the id the block's last
# `notifykit submit` printed: the block reads as one session.
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
# A silence's id (`notifykit silence expire 3f1c2a9e-...`) stands for the one the block's last
# `notifykit silence add` printed.
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

TIMEOUT = 60


def runnable(block: Block) -> bool:
    return block.lang in RUN_LANGS and block.not_run is None and block.marker != "continues"


def programs() -> list[tuple[str, str]]:
    """(where, source) of every python block to run, continuations appended to their head."""
    found: list[tuple[str, str]] = []
    last_on_page: dict[Path, int] = {}
    for block in all_blocks():
        if block.lang != "python" or block.not_run is not None:
            continue
        if block.marker == "continues":
            assert block.page in last_on_page, f"{block.where}: continues no python block"
            index = last_on_page[block.page]
            where, source = found[index]
            found[index] = (where, source + "\n" + block.text)
        else:
            last_on_page[block.page] = len(found)
            found.append((block.where, block.text))
    return found


def shell_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in ("sh", "console") and runnable(b)]


# -- what every block must say about itself ----------------------------------------------------


def test_every_block_names_its_language() -> None:
    """An unlabelled block would escape this module: say `text` for a synopsis or a diagram."""
    unlabelled = [b.where for b in all_blocks() if b.lang not in RUN_LANGS | DATA_LANGS]
    assert not unlabelled, f"fenced blocks without a known language: {unlabelled}"


def test_markers_are_known_and_give_reasons() -> None:
    for block in all_blocks():
        if block.marker is None:
            continue
        assert block.marker == "continues" or block.marker.startswith("not-run:"), (
            f"{block.where}: unknown marker <!-- {block.marker} -->"
        )
        assert block.lang in RUN_LANGS, f"{block.where}: a {block.lang} block is never run"
        if block.marker != "continues":
            assert len(block.not_run or "") >= 15, f"{block.where}: say why it is not run"


def test_most_examples_run() -> None:
    """The blocks not run are a short, deliberate list: a new marker is a decision."""
    examples = [b for b in all_blocks() if b.lang in RUN_LANGS]
    skipped = [b.where for b in examples if b.not_run is not None]
    assert len(skipped) <= 12, skipped
    assert len(examples) - len(skipped) >= 15


def test_no_indented_code_blocks() -> None:
    """Code indented by four spaces after a blank line is a code block this module cannot see."""
    indented = []
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        lines = page.read_text(encoding="utf-8").split("\n")
        fenced = False
        for number, (before, line) in enumerate(zip(["", *lines], lines, strict=False), 1):
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and line.startswith("    ") and not before.strip():
                indented.append(f"{page.relative_to(ROOT)}:{number}")
    assert not indented, f"indented code blocks (fence them): {indented}"


# -- the project the examples run in ------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[ExotelSimulator]:
    with ExotelSimulator() as sim:
        # The caller id `notifykit init`'s config names is one of the account's ExoPhones, as
        # `notifykit doctor --online` checks (it does not change what any other example sees).
        sim.add_exophone("08088919888")
        yield sim


@pytest.fixture(scope="module")
def environ(simulator: ExotelSimulator) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EXOTEL_", "NOTIFYKIT_"))}
    return {**base, "EXOTEL_SID": simulator.sid, "EXOTEL_TOKEN": simulator.token}


@pytest.fixture(scope="module")
def template_project(
    tmp_path_factory: pytest.TempPathFactory, simulator: ExotelSimulator, environ: dict[str, str]
) -> Path:
    """`notifykit init`, its account pointed at the simulator (the line the skeleton offers
    for that), and config.example.yaml beside it: the README's quickstart names it from a
    checkout, where it sits beside the same templates."""
    project = tmp_path_factory.mktemp("docs") / "project"
    made = subprocess.run(
        [sys.executable, "-m", "notifykit", "init", str(project)],
        capture_output=True, text=True, env=environ, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = project / "notifykit.yaml"
    text = config.read_text(encoding="utf-8")
    commented = "    # base_url: http://127.0.0.1:4041"
    assert commented in text
    config.write_text(text.replace(commented, f"    base_url: {simulator.base_url}"), "utf-8")
    shutil.copy(ROOT / "config.example.yaml", project / "config.example.yaml")
    return project


@pytest.fixture
def project(template_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(template_project, copy)
    return copy


def run(
    argv: list[str], cwd: Path, env: dict[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, (
        f"{what} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr, f"{what}\n{done.stderr}"
    return done


# -- python blocks ------------------------------------------------------------------------------

# Names the hook excerpts of docs/plugins.md use without importing them (they are pieces of a
# plugin module that has these imports).
PLUGIN_PRELUDE = """\
from notifykit import hookimpl
from notifykit.config.settings import Settings, setting
from notifykit.report import DeliveryState
"""

# Loads the plugin the way notifykit does, then sends through each of its channel types that
# needs no settings, on the project's config, in the sandbox.
PLUGIN_DRIVER = """\
import dataclasses, importlib, sys
import yaml
from notifykit import Notifier
from notifykit.plugins import Registry, get_plugin_manager

sys.path.insert(0, ".")
plugin = importlib.import_module(sys.argv[1])
base = set(Registry.from_manager(get_plugin_manager()).channel_types)
pm = get_plugin_manager(plugins=[plugin])  # check_pending: hooks and arguments must exist
registry = Registry.from_manager(pm)  # calls its register_* hooks
for name, channel_type in registry.channel_types.items():
    if name in base:
        continue
    print("registered", name)
    fields = dataclasses.fields(channel_type.settings)
    if any(f.default is f.default_factory is dataclasses.MISSING for f in fields):
        continue  # its settings are the reader's (a webhook...)
    config = yaml.safe_load(open("notifykit.yaml", encoding="utf-8"))
    config["channels"]["docs-example"] = {"type": name}
    kit = Notifier.from_config(config, sandbox=True, plugin_manager=pm)
    try:
        report = kit.notify("db.down", channels=["docs-example"], data={"host": "db1"})
    finally:
        kit.close()
    assert report.ok and report.deliveries, report.summary()
    print(name, "sent:", report.summary())
"""


def plugin_module_name(where: str) -> str:
    """The module a plugin block is, as the toml block after it registers it
    (`pager = "acme_pager"`), else a neutral name."""
    page_blocks = [b for b in all_blocks() if b.where.split(":")[0] == where.split(":")[0]]
    index = next(i for i, b in enumerate(page_blocks) if b.where == where)
    following = page_blocks[index + 1] if index + 1 < len(page_blocks) else None
    if following is not None and following.lang == "toml":
        entry = re.search(
            r'^\[project\.entry-points\.notifykit\]\n\w+ = "([\w.]+)"', following.text, re.M
        )
        if entry:
            return entry.group(1)
    return "docs_plugin"


@pytest.mark.parametrize(("where", "source"), programs(), ids=[w for w, _ in programs()])
def test_python_block_runs(where: str, source: str, project: Path, environ: dict[str, str]) -> None:
    if re.search(r"^def test_", source, re.M):
        (project / "test_docs_example.py").write_text(source, encoding="utf-8")
        done = run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_docs_example.py"],
            project, environ, where,
        )  # fmt: skip
        assert re.search(r"\b\d+ passed\b", done.stdout) and "failed" not in done.stdout
    elif re.search(r"^@hookimpl", source, re.M):
        module = plugin_module_name(where)
        (project / f"{module}.py").write_text(PLUGIN_PRELUDE + source, encoding="utf-8")
        (project / "load_plugin.py").write_text(PLUGIN_DRIVER, encoding="utf-8")
        done = run([sys.executable, "load_plugin.py", module], project, environ, where)
        if "register_channel_types" in source:
            assert "registered " in done.stdout, f"{where}: registered no channel type"
    else:
        (project / "docs_example.py").write_text(source, encoding="utf-8")
        run([sys.executable, "docs_example.py"], project, environ, where)


# -- shell blocks -------------------------------------------------------------------------------


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """The block's commands, `&&` chains split: a sh block's lines, or a console block's `$`
    lines, each with the output shown after it (for the last command of its line)."""
    text = re.sub(r"\\\n\s*", " ", block.text)  # continuation lines
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if block.lang == "console":
            if not line.startswith("$ "):
                if found:
                    found[-1][1].append(line)
                continue
            line = line[2:]
        for command in line.split(" && "):
            if command.strip() and not command.strip().startswith("#"):
                found.append((command.strip(), []))
    return found


MONTHS = r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"


def shape(line: str) -> str:
    """A line of output without what changes from run to run: Sids, numbers (times, dates,
    counts, durations), month names and spacing."""
    line = re.sub(r"\b[0-9a-f]{32}\b", "<sid>", line)
    line = re.sub(rf"\b{UUID}\b", "<uuid>", line)
    line = re.sub(MONTHS, "<month>", re.sub(r"\d+", "9", line))
    return " ".join(line.split())


def check_output(shown: list[str], done: subprocess.CompletedProcess[str], what: str) -> None:
    """Each line a console block shows after a command is in what the command printed, in
    shape (`...` stands for lines left out)."""
    printed = {shape(line) for line in (done.stdout + done.stderr).splitlines()}
    missing = [
        line for line in shown if line.strip() not in ("", "...") and shape(line) not in printed
    ]
    assert not missing, f"{what}: the docs show lines it does not print: {missing}\n{done.stdout}"


def is_install(argv: list[str]) -> bool:
    """`pip install ...`: tests/test_readme.py checks what it installs; a test does not install."""
    return argv[:2] == ["pip", "install"] or argv[1:4] == ["-m", "pip", "install"]


def run_shell_block(block: Block, cwd: Path, env: dict[str, str]) -> list[str]:
    """Run each command: `notifykit ...` through `python -m notifykit` (servers only checked
    with --help), `export` into the environment of the commands after it, and installs checked
    elsewhere; anything else is a block to mark not-run. Returns what was run."""
    env = dict(env)
    ran: list[str] = []
    last_id: str | None = None
    last_silence: str | None = None
    for command, shown in commands(block):
        argv = shlex.split(command, comments=True)
        what = f"{block.where}: {command}"
        if argv[0] == "export":
            env.update(word.split("=", 1) for word in argv[1:])
        elif is_install(argv):
            continue
        elif argv[0] == "notifykit":
            args = [last_id if ULID.match(a) and last_id else a for a in argv[1:]]
            args = [last_silence if re.fullmatch(UUID, a) and last_silence else a for a in args]
            subcommand = next((a for a in args if not a.startswith("-")), "")
            server = subcommand in SERVERS or (subcommand == "worker" and "--drain" not in args)
            done = run(
                [sys.executable, "-m", "notifykit", *args, *(["--help"] if server else [])],
                cwd, env, what,
            )  # fmt: skip
            if subcommand == "submit":
                last_id = done.stdout.split()[0]
            if subcommand == "silence" and "add" in args:
                last_silence = done.stdout.split()[0]
            check_output(shown, done, what)
            ran.append(command)
        else:
            pytest.fail(
                f"{what}: cannot run {argv[0]!r} here; mark the block <!-- not-run: why -->"
            )
    return ran


@pytest.mark.parametrize("block", shell_blocks(), ids=[b.where for b in shell_blocks()])
def test_shell_block_runs(
    block: Block, project: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    first = next((command for command, _ in commands(block)), "")
    # `notifykit init` starts a project: give it an empty directory, as a new user has.
    cwd = tmp_path / "empty" if first.startswith("notifykit init") else project
    cwd.mkdir(exist_ok=True)
    ran = run_shell_block(block, cwd, environ)
    assert ran, f"{block.where}: no notifykit command in it; mark it not-run or say text"


def test_a_broken_example_fails(tmp_path: Path, project: Path, environ: dict[str, str]) -> None:
    """The runner is not a rubber stamp: an option that does not exist (a server's included),
    output the command does not print, a program that raises."""
    for text in (
        "$ notifykit --sandbox notify db.down --dta host=db1\n",
        "$ notifykit serve --prot 1\n",
    ):
        block = Block(ROOT / "page.md", 1, "console", text, None)
        with pytest.raises(AssertionError, match="exited 3"):
            run_shell_block(block, project, environ)
    shown = "$ notifykit --sandbox notify db.down --data host=db1\ndb.down (critical): 3 sent\n"
    with pytest.raises(AssertionError, match="does not print"):
        run_shell_block(Block(ROOT / "page.md", 1, "console", shown, None), project, environ)
    broken = textwrap.dedent("""\
        import notifykit
        kit = notifykit.Notifier.from_config("notifykit.yaml")
        kit.notify("db.down", data={"hots": "db1"})
    """)
    (project / "docs_example.py").write_text(broken, encoding="utf-8")
    with pytest.raises(AssertionError, match="TemplateRenderError"):
        run([sys.executable, "docs_example.py"], project, environ, "broken")
