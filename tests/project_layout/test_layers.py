"""The package's layers, written once: a module imports only modules of its own layer or lower
ones, and the core has no import circle. Imports are read from the source (every ``import`` and
``from ... import``, at module level, in functions and under ``TYPE_CHECKING`` alike), so a
layering mistake fails here before it becomes an import-order bug. docs/architecture.md
describes the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "notifykit"

#: lowest first; a module belongs to the first prefix that names it (longest prefixes first
#: within a layer do not matter: prefixes never overlap across layers except as written here)
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "notifykit._lazy",
        "notifykit._dists",
        "notifykit.errors",
        "notifykit.model",
        "notifykit.report",
        "notifykit.http",
        "notifykit.fakeserver",
    ),
    (
        "notifykit.text",
        "notifykit.india",
        "notifykit.config.schema",
        "notifykit.config.settings",
        "notifykit.config.convert",
        "notifykit.config.delivery",
        "notifykit.config.scaleout",
    ),
    ("notifykit.channels", "notifykit.hookspecs", "notifykit.checks", "notifykit._findings"),
    ("notifykit.plugins",),
    ("notifykit.routing", "notifykit.oncall"),
    ("notifykit.config.loader", "notifykit.config"),
    ("notifykit.plan",),
    ("notifykit.ledger",),
    ("notifykit.metrics",),
    ("notifykit.limits",),
    ("notifykit.delivery",),
    ("notifykit.pipeline",),
    ("notifykit.runtime",),
    ("notifykit.notifier", "notifykit.handler", "notifykit.doctor"),
    (
        "notifykit.celery",
        "notifykit.server",
        "notifykit.cli",
        "notifykit.worker",
        "notifykit.__main__",
        "notifykit",
    ),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def layer(module: str) -> int:
    best, rank = -1, -1
    for n, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), n
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def imports(module: str) -> set[str]:
    """The notifykit modules ``module`` imports (a name imported from a package counts as its
    submodule when it is one, else as the package)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("notifykit."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if not (source == "notifykit" or source.startswith("notifykit.")):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                out.add(sub if sub in MODULES else source)
    out.discard(module)
    return {m for m in out if m in MODULES and m != "notifykit"}


GRAPH = {module: imports(module) for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    upward = sorted(m for m in GRAPH[module] if layer(m) > layer(module))
    assert upward == [], f"{module} (layer {layer(module)}) imports higher layers: {upward}"


def test_the_core_has_no_import_circle() -> None:
    # Tarjan's strongly connected components: any component of more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == [], f"import circles: {circles}"


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_the_graph_is_read() -> None:
    # the reader itself: the facade imports the composition root, which imports the pipeline
    assert "notifykit.runtime" in GRAPH["notifykit.notifier"]
    assert "notifykit.pipeline.builder" in GRAPH["notifykit.runtime"]


# -- the command line: one module per command family, none importing another ------------------

CLI = "notifykit.cli"
#: what a command module may import of the CLI: the shared helpers and the one output layer
CLI_SHARED = frozenset(
    {
        "notifykit.cli.common",
        "notifykit.cli.output",
        "notifykit.cli.complete",
        "notifykit.cli.logs",
        "notifykit.cli.progress",
        "notifykit.cli.metrics",
    }
)
#: where every command module is registered on the ``notifykit`` group, and nowhere else
CLI_APP = "notifykit.cli.app"
CLI_COMMANDS = sorted(
    m for m in MODULES if m.startswith(CLI + ".") and m not in CLI_SHARED | {CLI_APP}
)


def _cli_imports(module: str) -> set[str]:
    return {m for m in GRAPH[module] if m == CLI or m.startswith(CLI + ".")}


@pytest.mark.parametrize("module", CLI_COMMANDS)
def test_a_command_module_imports_only_the_shared_cli_modules(module: str) -> None:
    assert _cli_imports(module) <= CLI_SHARED, (
        f"{module} imports {sorted(_cli_imports(module) - CLI_SHARED)}: a command module shares "
        f"helpers through {sorted(CLI_SHARED)}, never through another command module"
    )


def test_the_commands_are_registered_in_one_place() -> None:
    assert CLI_APP in GRAPH, "the command modules are registered by notifykit.cli.app"
    assert _cli_imports(CLI_APP) >= set(CLI_COMMANDS), "app registers every command module"
    for module in CLI_SHARED & GRAPH.keys():
        assert not _cli_imports(module) & (set(CLI_COMMANDS) | {CLI_APP, CLI}), module
    importers = sorted(m for m in GRAPH if CLI_APP in GRAPH[m])
    assert importers == [CLI], f"only the package imports the app: {importers}"


def _from_imports(module: str) -> list[tuple[str, str]]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return [
        (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(CLI)))
def test_no_cli_module_imports_a_private_name_of_another(module: str) -> None:
    private = [
        f"{source}.{name}"
        for source, name in _from_imports(module)
        if source.startswith(CLI) and name.startswith("_") and not name.startswith("__")
    ]
    assert private == [], f"{module} imports private names: {private}; make them public"


@pytest.mark.parametrize("module", CLI_COMMANDS)
def test_no_command_branches_on_json(module: str) -> None:
    # The output layer (notifykit.cli.output) prints a command's result as text or as JSON: a
    # command that looks at --json itself prints two outputs that drift apart.
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    looks = sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "json"
    )
    assert looks == [], f"{module} reads .json (--json) at lines {looks}: return a Result instead"
