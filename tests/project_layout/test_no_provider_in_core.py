"""The core names no provider: ``grep -rni exotel notifykit/`` over the Python files finds only
docstrings and comments. Exotel code (its channels, client, simulator, commands, logger names,
DLT template keys) lives in ``plugins/notifykit_exotel``, which the core reaches only through the
hooks, like any third-party plugin.

The rule, checked token by token (so that it means exactly what it says):

- a comment may mention Exotel (an example, a reason);
- a docstring may (a module's, class's or function's first statement, or a bare string
  statement documenting an attribute);
- nothing else may: no import of ``notifykit_exotel`` (nor its name in a string handed to
  ``importlib``), no identifier, no string literal a program uses, f-strings included.

The only place the core is allowed to name the plugin is the default plugin list, which is the
distribution's entry points in ``pyproject.toml``, outside ``notifykit/``; the non-Python files
under ``notifykit/`` (``init``'s example config) are data, not code, and not checked here.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "notifykit"
WORD = re.compile("exotel", re.IGNORECASE)

#: (file relative to the repository, line) -> why it may name Exotel in code; keep it empty
ALLOWED: dict[tuple[str, int], str] = {}


def _docstrings(tree: ast.AST) -> set[tuple[int, int]]:
    """Where each docstring starts (line, column): first statements of modules, classes and
    functions, and bare string statements (attribute docstrings)."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.add((node.lineno, node.col_offset))
    return found


def offenders(path: Path, base: Path = ROOT) -> list[str]:
    source = path.read_text(encoding="utf-8")
    docstrings = _docstrings(ast.parse(source))
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if not WORD.search(token.string) or token.type == tokenize.COMMENT:
            continue
        if token.type == tokenize.STRING and token.start in docstrings:
            continue
        where = (str(path.relative_to(base)), token.start[0])
        if where in ALLOWED:
            continue
        found.append(f"{where[0]}:{where[1]}: {tokenize.tok_name[token.type]} {token.string!r}")
    return found


def test_the_core_names_exotel_only_in_docstrings_and_comments() -> None:
    found = [line for path in sorted(PACKAGE.rglob("*.py")) for line in offenders(path)]
    assert not found, "move this into plugins/notifykit_exotel (or a hook):\n" + "\n".join(found)


def test_the_rule_catches_code(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    text = (
        '"""Docstring: Exotel is fine here."""\n'
        "# a comment about Exotel is fine\n"
        "import notifykit_exotel.plugin\n"
        "NAME = 'exotel-sms'\n"
        "exotel_client = None\n"
        "x = f'{NAME} on Exotel'\n"
        "def f():\n"
        '    """Exotel, documented."""\n'
        "    return importlib.import_module('notifykit_exotel')\n"
    )
    sample.write_text(text, encoding="utf-8")
    lines = [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in offenders(sample, tmp_path)]
    assert lines == ["3", "4", "5", "6", "9"]
