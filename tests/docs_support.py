"""Reading the project's prose for tests: the fenced code blocks of README.md and docs/*.md (with
the marker comment before each), and every ``pip install`` command in the docs and the code."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the Markdown pages whose code blocks are examples for users
DOC_PAGES: tuple[Path, ...] = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

#: everything that may tell a user what to install: the pages, the example configs (the skeleton
#: `notifykit init` writes included) and the code (error messages, docstrings)
INSTALL_SOURCES: tuple[Path, ...] = (
    *DOC_PAGES,
    ROOT / "CHANGELOG.md",
    ROOT / "config.example.yaml",
    *sorted((ROOT / "notifykit" / "cli" / "skeleton").rglob("*.*")),
    *sorted((ROOT / "notifykit").rglob("*.py")),
    *sorted((ROOT / "plugins").rglob("*.py")),
)

_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*(.*?)\s*-->\s*")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its page, the line of its opening fence, its language (``""``
    when the fence names none), its text, and the HTML comment on the line right before the fence
    (``not-run: reason``, ``continues``), if any."""

    page: Path
    line: int
    lang: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """The reason given in a ``<!-- not-run: reason -->`` marker, else None."""
        if self.marker is None or not self.marker.startswith("not-run"):
            return None
        return self.marker.partition(":")[2].strip()


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        marker = _MARKER.fullmatch(before[:-1].rpartition("\n")[2])  # the line before the fence
        found.append(
            Block(
                page=page,
                line=before.count("\n") + 1,
                lang=match.group(1),
                text=match.group(2),
                marker=marker.group(1) if marker else None,
            )
        )
    return found


def all_blocks() -> list[Block]:
    return [block for page in DOC_PAGES for block in blocks(page)]


# `pip install [options] TARGET`: up to the end of the command in prose, a code span, a shell
# line, a Python string or a YAML comment.
_PIP_INSTALL = re.compile(r"pip install\s+([^`\n&|;)\"#]+)")
_TARGET = re.compile(
    r"(?P<name>\.|\.?/[^\[\s]*|[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[(?P<extras>[^\]]*)\])?"
)


@dataclass(frozen=True)
class Install:
    """A ``pip install`` found in a file: where, and its target split into the project name (or
    ``.``/a path for this checkout) and the extras asked for."""

    where: str
    command: str
    name: str
    extras: tuple[str, ...]

    @property
    def local(self) -> bool:
        """Installs this checkout (``.``, ``-e '.[test]'``, a path) rather than from an index."""
        return self.name == "." or "/" in self.name


def installs(sources: tuple[Path, ...] = INSTALL_SOURCES) -> list[Install]:
    found = []
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for match in _PIP_INSTALL.finditer(text):
            try:
                words = shlex.split(match.group(1))
            except ValueError:  # an unbalanced quote in prose: the words as they are
                words = match.group(1).split()
            targets = [w for w in words if not w.startswith("-")]
            if not targets:
                continue
            token = targets[0] if targets[0] == "." else targets[0].rstrip(".,:")  # prose
            target = _TARGET.fullmatch(token)
            if target is None:
                continue
            extras = tuple(
                e.strip() for e in (target.group("extras") or "").split(",") if e.strip()
            )
            line = text.count("\n", 0, match.start()) + 1
            found.append(
                Install(
                    where=f"{source.relative_to(ROOT).as_posix()}:{line}",
                    command=match.group(0).strip(),
                    name=target.group("name"),
                    extras=extras,
                )
            )
    return found


def canonical(name: str) -> str:
    """A project name as the index compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_name_and_extras() -> tuple[str, set[str]]:
    """``[project] name`` and the extras of pyproject.toml (read without tomllib, which Python 3.10
    lacks: the two keys are plain in this file)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("\n[project]\n", 1)[1]
    name = re.search(r'^name = "([^"]+)"$', project, re.M)
    assert name is not None, "pyproject.toml: no [project] name"
    section = text.split("\n[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([A-Za-z0-9_-]+) = \[", section, re.M))
    return name.group(1), extras
