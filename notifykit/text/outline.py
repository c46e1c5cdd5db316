"""What a template's output is made of, read from its source without rendering it: the fixed
text, the parts that vary, and the variables and string constants it uses.

``notifykit doctor`` compares this with what a provider needs of a message: in India, a DLT
content template is fixed text with at most a few ``{#var#}`` placeholders, never two in a row,
and a link in it must be whitelisted (see :mod:`notifykit.india`). A part "varies" when its text
can differ from one message to the next: an expression (``{{ host }}``), or a block whose output
depends on the data (``{% if %}``, ``{% for %}``, an ``{% include %}``); fixed text inside such a
block varies with it, since it may or may not be there.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import nodes

from notifykit.text.templates import TemplateEngine

__all__ = ["Outline", "Part", "outline", "outline_source"]

#: statements that write nothing where they stand
_SILENT = (nodes.Assign, nodes.Macro, nodes.Import, nodes.FromImport)


@dataclass(frozen=True)
class Part:
    """One piece of a template's output, in order: ``fixed`` text, or ``None`` for a part that
    varies (``names``: the variables it reads). ``line`` is its line in the template file."""

    fixed: str | None
    line: int
    names: tuple[str, ...] = ()

    @property
    def varies(self) -> bool:
        return self.fixed is None


@dataclass(frozen=True)
class Outline:
    """A template's output as :class:`Part` objects, with every variable name it reads and every
    string constant it holds (``{% set tail = "https://..." %}`` included)."""

    parts: tuple[Part, ...]
    names: frozenset[str]
    constants: tuple[str, ...]

    @property
    def fixed_text(self) -> str:
        """The fixed text, in order (what a message always contains)."""
        return "".join(p.fixed for p in self.parts if p.fixed is not None)

    def variables(self) -> list[tuple[Part, ...]]:
        """The runs of consecutive varying parts: each run is one stretch of text that differs
        between messages (two expressions with nothing between them are one run)."""
        runs: list[tuple[Part, ...]] = []
        current: list[Part] = []
        for part in self.parts:
            if part.varies:
                current.append(part)
            elif part.fixed:
                if current:
                    runs.append(tuple(current))
                current = []
        if current:
            runs.append(tuple(current))
        return runs

    def texts(self) -> tuple[str, ...]:
        """Every piece of text written in the template: its fixed text and string constants."""
        return (*(p.fixed for p in self.parts if p.fixed), *self.constants)


def outline(engine: TemplateEngine, name: str) -> Outline:
    """The :class:`Outline` of template ``name`` (``db_down.sms``) as ``engine`` finds it.

    Raises :class:`~notifykit.errors.TemplateNotFoundError` for an unknown template, and
    ``jinja2.TemplateSyntaxError`` for one that does not parse.
    """
    template_name = engine.resolve(name)
    env = engine.environment
    assert env.loader is not None
    source, filename, _ = env.loader.get_source(env, template_name)
    return outline_source(engine, source, template_name, filename)


def outline_source(
    engine: TemplateEngine, source: str, name: str | None = None, filename: str | None = None
) -> Outline:
    """The :class:`Outline` of a template's source text (parsed as ``engine`` parses it: block
    and whitespace trimming included)."""
    tree = engine.environment.parse(source, name, filename)
    parts: list[Part] = []
    for node in tree.body:
        _parts(node, parts)
    names = frozenset(_read(tree))
    constants = tuple(
        c.value for c in tree.find_all(nodes.Const) if isinstance(c.value, str) and c.value
    )
    return Outline(tuple(parts), names, constants)


def _parts(node: nodes.Node, parts: list[Part]) -> None:
    if isinstance(node, _SILENT):
        return
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(Part(child.data, child.lineno))
            elif isinstance(child, nodes.Const) and isinstance(child.value, (str, int, float)):
                parts.append(Part(str(child.value), child.lineno))
            else:
                parts.append(Part(None, child.lineno, _read(child)))
        return
    parts.append(Part(None, node.lineno, _read(node)))


def _read(node: nodes.Node) -> tuple[str, ...]:
    """The variables ``node`` reads, in order; not the helpers the sandbox adds (``__...``)."""
    found = [node] if isinstance(node, nodes.Name) else []
    found.extend(node.find_all(nodes.Name))
    return tuple(
        dict.fromkeys(n.name for n in found if n.ctx == "load" and not n.name.startswith("__"))
    )
