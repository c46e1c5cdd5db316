"""Rendering notification text (SMS bodies, voice-call speech) from Jinja2 templates.

Templates run in Jinja's sandbox with :class:`~jinja2.StrictUndefined`, so a template can only read
the data it is given and a missing value is an error naming the variable, never an empty gap in a
message someone is woken up by. There is no HTML autoescaping: SMS and speech are plain text.

Templates are trusted (they are the deployment's own files), but a mistake in one must not hang
``config check``, the load of a config or an alert, so the environment is bounded
(:class:`BoundedSandboxedEnvironment`), each limit raising :class:`TemplateLimitError` with the
template's name and line:

- Nothing is evaluated at load time: Jinja's constant folding (which would compute
  ``{{ 9**(9**9) }}`` while *compiling*) is off (``optimized=False``), and the bounded operators
  are intercepted, which Jinja never folds either.
- ``**`` refuses results over :data:`MAX_INT_BITS` bits; ``*`` and ``+`` refuse strings and lists
  over :data:`MAX_SIZE` items (``'a' * 10**9``), as do ``~``, ``center``/``ljust``/``rjust``/
  ``zfill``/``expandtabs``/``replace``, the ``center``/``indent``/``replace``/``format`` filters and
  ``%``/``format`` widths.
- ``range`` gives at most :data:`MAX_RANGE` numbers.
- Rendering has a time budget (``render_timeout``, default :data:`RENDER_TIMEOUT` seconds) and an
  output budget (:data:`MAX_OUTPUT` characters). The time check is cooperative, with no thread or
  ``sys.settrace``: every ``{% for %}`` iteration, call (macros included), operator, attribute
  look-up and output piece checks the clock, so a loop of loops or an exponential macro stops
  within a few milliseconds of the budget. A single long C-level operation cannot be interrupted,
  which is why the size limits refuse those before they start.
- Recursion (a macro or include calling itself without end) is a :class:`TemplateLimitError`, not a
  :class:`RecursionError`.

These stop accidents; they are not a boundary against a hostile template author.
"""

from __future__ import annotations

import contextvars
import math
import os
import re
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifykit.errors import TemplateNotFoundError, TemplateRenderError
from notifykit.text import summary

__all__ = [
    "DEFAULT_TEMPLATE_DIR",
    "IST",
    "MAX_INT_BITS",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_SIZE",
    "RENDER_TIMEOUT",
    "BoundedSandboxedEnvironment",
    "TemplateEngine",
    "TemplateLimitError",
    "digits_filter",
    "ist",
    "phone_filter",
]

DEFAULT_TEMPLATE_DIR = Path(__file__).parent.parent / "templates"
"""The generic templates shipped with notifykit (``default.sms.j2``, ``default.voice.j2``)."""

TEMPLATE_SUFFIX = ".j2"

# Enough for every template a deployment has; Jinja evicts the least recently used beyond it.
_CACHE_SIZE = 256

IST = timezone(timedelta(hours=5, minutes=30), "IST")
"""India Standard Time. India has no daylight saving, so a fixed offset is exact."""

# strftime's %b follows the process locale; alerts must read the same on every server.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- filters -----------------------------------------------------------------------------------


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        # Python 3.10's fromisoformat does not take the "Z" that Alertmanager and most APIs send.
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as err:
            raise ValueError(
                f"ist: {value!r} is not an ISO 8601 date-time (expected e.g. 2026-11-28T04:00:00Z)"
            ) from err
    else:
        raise TypeError(
            f"ist: cannot format a {type(value).__name__}; pass a datetime, an ISO 8601 string "
            "or a Unix timestamp"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def ist(value: Any, fmt: str | None = None) -> str:
    """Jinja filter: a moment in India Standard Time, by default as ``28 Nov 2026 09:30 IST``.

    Accepts a :class:`~datetime.datetime` or :class:`~datetime.date`, an ISO 8601 string (a
    trailing ``Z`` included) or a Unix timestamp. A value without a time zone is taken to be UTC,
    which is what servers and monitoring systems log in.
    ``fmt`` is an optional :meth:`~datetime.datetime.strftime` format applied to the IST time
    instead (``{{ alert.startsAt | ist("%H:%M") }}``).
    """
    moment = _to_datetime(value).astimezone(IST)
    if fmt is not None:
        return moment.strftime(fmt)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M} IST"


def digits_filter(value: Any) -> str:
    """Jinja filter: the digits of a value one by one, ``"4821"`` → ``"4 8 2 1"``.

    Text-to-speech reads ``4821`` as "four thousand eight hundred twenty-one"; an OTP or a ticket
    number must be heard digit by digit. Characters other than digits are dropped.
    """
    return " ".join(c for c in str(value) if c.isdigit())


def phone_filter(value: Any) -> str:
    """Jinja filter: a phone number spelled out for speech, ``"+91 98765 43210"`` →
    ``"plus 9 1 9 8 7 6 5 4 3 2 1 0"``. Spaces, dashes and brackets are dropped."""
    text = str(value).strip()
    spelled = digits_filter(text)
    return f"plus {spelled}" if text.startswith("+") and spelled else spelled


_DEFAULT_FILTERS: dict[str, Callable[..., Any]] = {
    "ist": ist,
    "digits": digits_filter,
    "phone": phone_filter,
    # short plain-text summaries (notifykit.text.summary): what the default templates use
    "gsm7": summary.gsm7,
    "sms_length": summary.sms_length,
    "fit": summary.fit,
    "host_labels": summary.host_labels,
    "scalars": summary.scalars,
    "alert_line": summary.alert_line,
    "join_fit": summary.join_fit,
}


# --- limits -------------------------------------------------------------------------------------

RENDER_TIMEOUT = 2.0
"""Seconds a render may take by default; an alert template takes milliseconds."""

MAX_OUTPUT = 100_000
"""Characters a render may produce (an SMS is at most 2,000; speech a few thousand)."""

MAX_SIZE = 100_000
"""Items (characters) a string or list built by an operator or a filter may have."""

MAX_INT_BITS = 4_096
"""Bits an integer built by ``**`` or ``*`` may have (about 1,200 decimal digits)."""

MAX_RANGE = 100_000
"""Numbers ``range()`` may give (the same as Jinja's sandbox, with our error)."""


class TemplateLimitError(TemplateRenderError):
    """A template went past one of the rendering limits (time, output size, a huge power or
    repetition, a long range, endless recursion). The message names the template, the line and
    the limit."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_limit_error, (str(self), self.template))


def _rebuild_limit_error(message: str, template: str | None) -> TemplateLimitError:
    return TemplateLimitError(message, template=template)


class _Limit(Exception):
    """Raised inside a render when a limit is hit; :meth:`TemplateEngine.render` turns it into a
    :class:`TemplateLimitError` naming the template and line."""


# The render in progress: its deadline (monotonic seconds). A context variable, so renders in
# different threads (the Notifier renders per channel) each keep their own.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "notifykit_template_deadline", default=None
)


_TOO_LONG = "ran past its time budget (a loop or macro that does far too much work?)"


def _check_time() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and _time.monotonic() > deadline:
        raise _Limit(_TOO_LONG)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise _Limit(f"{what} would be {size:,} long, over the limit of {MAX_SIZE:,}")


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and not isinstance(width, bool):
        _check_size(width, what)


# Widths and precisions of %-conversions ("%999999d", "%.999999f") and of str.format specs
# ("{:>999999}", "{0:.999999}"); digits in the literal text around them are not sizes.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d*))?[diouxXeEfFgGcrsa]")
_BRACE_SPEC = re.compile(r"\{[^{}:]*:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")


def _check_format(template: Any, what: str, *, braces: bool = False) -> None:
    if not isinstance(template, str):
        return
    if braces:
        numbers = [d for spec in _BRACE_SPEC.findall(template) for d in _DIGITS.findall(spec)]
    else:
        numbers = [d for m in _PERCENT_SPEC.finditer(template) for d in m.groups() if d]
    for digits in numbers:
        _check_size(int(digits), what)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    ints = all(isinstance(v, int) for v in (left, right))
    if operator == "**" and ints and right > 0 and abs(left) > 1:
        bits = right * math.log2(abs(left))
        if bits > MAX_INT_BITS:
            raise _Limit(
                f"{left} ** {right} would have about {bits:,.0f} bits, over the limit of "
                f"{MAX_INT_BITS:,}"
            )
    elif operator == "*" and ints:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise _Limit(f"a product over the limit of {MAX_INT_BITS:,} bits")
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            size = _size(seq)
            if size is not None and isinstance(times, int):
                _check_size(size * times, "a repeated string or list")
    elif operator == "+":
        sizes = (_size(left), _size(right))
        if sizes[0] is not None and sizes[1] is not None:
            _check_size(sizes[0] + sizes[1], "a joined string or list")
    elif operator == "%" and isinstance(left, str):
        _check_format(left, "a %-formatted field")


class _Guarded:
    """The iterable of a ``{% for %}`` loop, checking the time budget at every item."""

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._iterable = iterable

    def __len__(self) -> int:
        return len(self._iterable)  # type: ignore[arg-type]  # TypeError: LoopContext copes

    def __iter__(self) -> Iterator[Any]:
        for item in self._iterable:
            _check_time()
            yield item


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        spelled = ", ".join(str(a) for a in args)
        raise _Limit(
            f"range({spelled}) has {len(numbers):,} numbers, over the limit of {MAX_RANGE:,}"
        )
    return numbers


def _concat(*parts: Any) -> str:
    """``a ~ b``: what Jinja's Concat node does, with the size limit."""
    texts = [str(p) for p in parts]
    _check_size(sum(len(t) for t in texts), "a joined string (~)")
    return "".join(texts)


# Names the AST rewrite calls; globals of the environment, out of the way of template names.
_LOOP_GUARD = "__notifykit_loop"
_CONCAT = "__notifykit_concat"

# str methods that build a string as long as an argument says: checked before they run.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _bounded_center(value: str, width: int = 80) -> str:
    _check_width(width, "a centered string")
    return str(value).center(width)


def _bounded_indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    size = width if isinstance(width, int) else len(str(width))
    _check_size(len(text) + size * (text.count("\n") + 1), "an indented string")
    return FILTERS["indent"](text, width, first, blank)  # type: ignore[no-any-return]


@jinja2.pass_eval_context
def _bounded_replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if count is not None and count >= 0:
        times = min(times, count)
    _check_size(len(text) + times * max(len(new_text) - len(old_text), 0), "a replaced string")
    return FILTERS["replace"](eval_ctx, s, old, new, count)  # type: ignore[no-any-return]


def _bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_format(value, "a formatted field")
    return FILTERS["format"](value, *args, **kwargs)  # type: ignore[no-any-return]


_BOUNDED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _bounded_center,
    "indent": _bounded_indent,
    "replace": _bounded_replace,
    "format": _bounded_format,
}


class BoundedSandboxedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits of this module (see its docstring)."""

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        # Constant folding would evaluate expressions while compiling, i.e. in `config check`.
        options["optimized"] = False
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.globals[_LOOP_GUARD] = _Guarded
        self.globals[_CONCAT] = _concat
        self.filters.update(_BOUNDED_FILTERS)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one flat dict: the environment's, then the template's own.

        Jinja's is a ``ChainMap`` over the environment's globals, and every render copies it into
        the context key by key through ``ChainMap.__getitem__``: half the time of rendering a
        short SMS. A template sees the environment's globals as they were when it was loaded,
        which is what Jinja asks of its users anyway ("avoid modifying any globals after a
        template is loaded"); :class:`TemplateEngine` sets them once, before loading any.
        """
        return {**self.globals, **(d or {})}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then route every loop's iterable through the time check and every ``~``
        through the size check (the code generator gives neither a hook)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = self._call(_LOOP_GUARD, [cast(nodes.Expr, loop.iter)], loop.iter.lineno)
        # Innermost first does not matter: a Concat inside a Concat is rewritten as an argument.
        for parent in list(tree.find_all(nodes.Node)):
            for field_name, value in parent.iter_fields():
                if isinstance(value, nodes.Concat):
                    setattr(parent, field_name, self._concat(value))
                elif isinstance(value, list):
                    value[:] = [
                        self._concat(v) if isinstance(v, nodes.Concat) else v for v in value
                    ]
        tree.set_environment(self)
        return tree

    def _concat(self, node: nodes.Concat) -> nodes.Call:
        # The same list, not a copy: a Concat nested in this one is rewritten in it later.
        return self._call(_CONCAT, node.nodes, node.lineno)

    @staticmethod
    def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        return nodes.Call(
            nodes.Name(name, "load", lineno=lineno), args, [], None, None, lineno=lineno
        )

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        _check_time()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_time()
        return super().getitem(obj, argument)

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        _check_time()
        # The sandbox hands out str.format wrapped (functools.update_wrapper keeps __wrapped__).
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            method = getattr(target, "__name__", "")
            if method in _WIDTH_METHODS and args:
                _check_width(args[0], f"str.{method}()")
            elif method == "expandtabs":
                tabs = args[0] if args else kwargs.get("tabsize", 8)
                if isinstance(tabs, int):
                    _check_size(len(owner) + owner.count("\t") * tabs, "str.expandtabs()")
            elif method == "replace" and len(args) >= 2:
                old, new = str(args[0]), str(args[1])
                times = owner.count(old) if old else len(owner) + 1
                _check_size(len(owner) + times * max(len(new) - len(old), 0), "str.replace()")
            elif method in ("format", "format_map"):
                _check_format(owner, f"a str.{method}() field", braces=True)
        return super().call(__context, __obj, *args, **kwargs)


# --- errors --------------------------------------------------------------------------------------

_UNDEFINED_PATTERNS = (
    re.compile(r"^'(?P<name>.+)' is undefined$"),
    re.compile(r" has no attribute '(?P<name>.+)'$"),
    re.compile(r" has no element (?P<name>.+)$"),
)


def _clause(message: str | None) -> str:
    """A message without its final full stop, so it can sit inside one of our sentences."""
    return (message or "").rstrip().rstrip(".")


def _undefined_name(message: str) -> str | None:
    """The missing name in one of Jinja's UndefinedError messages, if it is one of the usual."""
    for pattern in _UNDEFINED_PATTERNS:
        found = pattern.search(message)
        if found:
            return found.group("name")
    return None


def _dotted_path(name: str, line: str | None) -> str:
    """``data.host`` rather than ``host`` when the failing template line shows what ``host`` was
    looked up on. Jinja reports only the last attribute; the line tells the user where it sits."""
    if not line:
        return name
    escaped = re.escape(name)
    lookup = re.compile(
        r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\]]*\])*"
        rf"(?:\.{escaped}\b|\[\s*['\"]?{escaped}['\"]?\s*\])"
    )
    found = lookup.search(line)
    if found is None:
        return name
    return found.group(0).replace(" ", "")


class TemplateEngine:
    """Finds and renders notification templates.

    Lookup order: the directories in ``search_path`` (the ones the configuration names), in order;
    then ``plugin_paths`` (template directories shipped by plugins); then notifykit's own defaults
    in :data:`DEFAULT_TEMPLATE_DIR`, unless ``include_defaults`` is false. The first directory that
    has the template wins, so a deployment overrides a plugin's template, which overrides ours.

    Names: ``render("db_down.sms", data)`` looks, in each directory in turn, for ``db_down.sms.j2``
    and then for a file named exactly ``db_down.sms``; a name already ending in ``.j2`` is used as
    it is. Names may contain ``/`` for subdirectories, never ``..``.

    Rendering: ``data`` is the template's context (its top-level variables). Jinja runs with
    ``trim_blocks`` and ``lstrip_blocks``, so a ``{% if %}`` line leaves no blank line behind, and
    trailing whitespace is stripped from the result: an SMS body never ends in a stray newline or
    space, which would count towards its length. Compiled templates are cached and never reloaded
    from disk during the engine's life.

    ``filters`` and ``globals`` are added on top of Jinja's and notifykit's own (``ist``,
    ``digits``, ``phone``, and the summary filters of :mod:`notifykit.text.summary`: ``gsm7``,
    ``sms_length``, ``fit``, ``host_labels``, ``scalars``, ``alert_line``, ``join_fit``); a name
    given here replaces a built-in one of the same name.

    Limits: see the module docstring. A render taking more than ``render_timeout`` seconds, or
    going past another limit, raises :class:`TemplateLimitError`.
    """

    def __init__(
        self,
        search_path: Sequence[str | os.PathLike[str]] = (),
        *,
        plugin_paths: Sequence[str | os.PathLike[str]] = (),
        filters: Mapping[str, Callable[..., Any]] | None = None,
        globals: Mapping[str, Any] | None = None,
        include_defaults: bool = True,
        render_timeout: float = RENDER_TIMEOUT,
    ) -> None:
        if isinstance(search_path, (str, os.PathLike)):
            # A lone string is a Sequence too; iterating it would search one directory per letter.
            raise TypeError("search_path must be a list of directories, not a single path")
        dirs = [Path(d) for d in search_path] + [Path(d) for d in plugin_paths]
        if include_defaults:
            dirs.append(DEFAULT_TEMPLATE_DIR)
        self._dirs: tuple[Path, ...] = tuple(dirs)
        if not render_timeout > 0:
            raise ValueError(
                f"render_timeout must be a positive number of seconds, got {render_timeout!r}"
            )
        self.render_timeout = render_timeout
        self._env = BoundedSandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(d) for d in self._dirs], encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=_CACHE_SIZE,
        )
        self._env.filters.update(_DEFAULT_FILTERS)
        if filters:
            self._env.filters.update(filters)
        if globals:
            self._env.globals.update(globals)
        # name asked for -> (template name, directory). Only hits are kept: a template added to a
        # directory later is then found, and a typo does not grow the table.
        self._resolved: dict[str, tuple[str, Path]] = {}
        # template name -> compiled template, as Jinja's own cache keeps them (never reloaded)
        # without its lookup under a lock on every render; as bounded
        self._templates: dict[str, jinja2.Template] = {}

    @property
    def search_dirs(self) -> tuple[Path, ...]:
        """Every directory searched, in lookup order."""
        return self._dirs

    @property
    def environment(self) -> jinja2.Environment:
        """The underlying sandboxed Jinja environment (for inspection and advanced use)."""
        return self._env

    def _find(self, name: str) -> tuple[str, Path] | None:
        cached = self._resolved.get(name)
        if cached is not None:
            return cached
        candidates = [name] if name.endswith(TEMPLATE_SUFFIX) else [name + TEMPLATE_SUFFIX, name]
        for directory in self._dirs:
            for candidate in candidates:
                try:
                    parts = split_template_path(candidate)
                except jinja2.TemplateNotFound:
                    # ".." in the name: never look outside the template directories.
                    return None
                if directory.joinpath(*parts).is_file():
                    self._resolved[name] = (candidate, directory)
                    return candidate, directory
        return None

    def _not_found(self, name: str, *, included_by: str | None = None) -> TemplateNotFoundError:
        searched = (
            ", ".join(str(d) if d.is_dir() else f"{d} (missing)" for d in self._dirs)
            or "no directories"
        )
        candidates = (
            name if name.endswith(TEMPLATE_SUFFIX) else f"{name}{TEMPLATE_SUFFIX} or {name}"
        )
        if included_by is not None:
            return TemplateNotFoundError(
                f"Template {included_by!r} refers to template {name!r}, which does not exist: "
                f"searched {searched}. Create it or fix the name in {included_by!r}.",
                template=included_by,
            )
        return TemplateNotFoundError(
            f"Template {name!r} not found: looked for {candidates} in {searched}. Create the "
            "file in one of these directories or fix the template name in the configuration.",
            template=name,
        )

    def exists(self, name: str) -> bool:
        """Whether a template of this name is found in any directory."""
        return self._find(name) is not None

    def resolve(self, name: str) -> str:
        """The template file name that ``name`` resolves to, e.g. ``"db_down.sms.j2"``.

        Raises :class:`~notifykit.errors.TemplateNotFoundError` when there is none.
        """
        found = self._find(name)
        if found is None:
            raise self._not_found(name)
        return found[0]

    def locate(self, name: str) -> Path:
        """The file on disk that ``name`` resolves to, so one can tell which directory won.

        Raises :class:`~notifykit.errors.TemplateNotFoundError` when there is none.
        """
        found = self._find(name)
        if found is None:
            raise self._not_found(name)
        template_name, directory = found
        return directory.joinpath(*split_template_path(template_name))

    def list_templates(self) -> list[str]:
        """The names of every template in every directory, sorted, each listed once."""
        return self._env.list_templates(
            filter_func=lambda n: not any(p.startswith(".") for p in n.split("/"))
        )

    def render(self, name: str, data: Mapping[str, Any]) -> str:
        """Render template ``name`` with ``data`` as its variables; trailing whitespace stripped.

        Raises :class:`~notifykit.errors.TemplateNotFoundError` for an unknown template (or one it
        includes), and :class:`~notifykit.errors.TemplateRenderError` for a missing variable (its
        ``variable`` names it), a syntax error, an operation the sandbox forbids, or an error raised
        by a filter; each message names the template, the file and the line.
        """
        template_name = self.resolve(name)
        token = _DEADLINE.set(_time.monotonic() + self.render_timeout)
        try:
            template = self._templates.get(template_name)
            if template is None:
                template = self._env.get_template(template_name)
                if len(self._templates) >= _CACHE_SIZE:
                    self._templates.clear()
                self._templates[template_name] = template
            return self._generate(template, data).rstrip()
        except _Limit as err:
            raise TemplateLimitError(
                f"Template {name!r} ({self._where(err.__traceback__)}) {err}. Templates have "
                "limits so that a mistake cannot hang an alert or `config check`.",
                template=name,
            ) from None
        except RecursionError:
            raise TemplateLimitError(
                f"Template {name!r} recursed too deeply (a macro or include that calls itself "
                "without end?). Give the recursion a stopping condition.",
                template=name,
            ) from None
        except MemoryError:
            raise TemplateLimitError(
                f"Template {name!r} ran out of memory while rendering. Check its loops and "
                "filters for something that grows without bound.",
                template=name,
            ) from None
        except jinja2.TemplateSyntaxError as err:
            where = f"{err.filename or template_name}, line {err.lineno}"
            raise TemplateRenderError(
                f"Template {name!r} has a syntax error at {where}: {_clause(err.message)}. Fix the "
                "Jinja syntax there.",
                template=name,
            ) from err
        except jinja2.TemplateNotFound as err:
            missing = err.name if isinstance(err.name, str) else str(err)
            raise self._not_found(missing, included_by=name) from err
        except jinja2.UndefinedError as err:
            raise self._undefined_error(name, err) from err
        except SecurityError as err:
            raise TemplateRenderError(
                f"Template {name!r} ({self._where(err.__traceback__)}) does something the sandbox "
                f"forbids: {_clause(str(err))}. Templates may only read the data they are given; "
                "remove the access to internal attributes or methods.",
                template=name,
            ) from err
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as err:
            # Filters and expressions fail with ordinary exceptions (ist given a bad date, a
            # division by zero); they are still the template's problem, so say which and where.
            raise TemplateRenderError(
                f"Template {name!r} failed to render ({self._where(err.__traceback__)}): "
                f"{type(err).__name__}: {_clause(str(err))}. Check the data passed to it and the "
                "filters used on that line.",
                template=name,
            ) from err
        finally:
            _DEADLINE.reset(token)

    @staticmethod
    def _generate(template: jinja2.Template, data: Mapping[str, Any]) -> str:
        """Render piece by piece, so the output budget and the clock are checked as it grows.

        What Jinja's ``Template.generate`` does, without its copy of ``data`` (the context
        copies it) and its second generator: an error of the template's goes through the
        environment's ``handle_exception``, which raises it with the template's lines in its
        traceback; a limit found here is raised from here."""
        pieces: list[str] = []
        size = 0
        deadline = _DEADLINE.get()
        problem: str | None = None
        context = template.new_context(data if isinstance(data, dict) else dict(data))
        try:
            for piece in template.root_render_func(context):
                size += len(piece)
                if size > MAX_OUTPUT:
                    problem = f"produced more than {MAX_OUTPUT:,} characters of output"
                    break
                if deadline is not None and _time.monotonic() > deadline:
                    problem = _TOO_LONG
                    break
                pieces.append(piece)
        except Exception:
            template.environment.handle_exception()
        if problem is not None:
            raise _Limit(problem)
        return "".join(pieces)

    def _template_frame(self, tb: TracebackType | None) -> tuple[str, int] | None:
        """The innermost traceback frame that is a line of a template file: Jinja rewrites its
        tracebacks so that template code appears under the template's own file name and line."""
        # Compare both spellings of each path: a symlinked or relative directory appears in frames
        # as the loader joined it, not as it resolves.
        dirs = {
            os.path.join(f(d), "") for d in self._dirs for f in (os.path.abspath, os.path.realpath)
        }
        found: tuple[str, int] | None = None
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if any(os.path.abspath(filename).startswith(d) for d in dirs):
                found = (filename, tb.tb_lineno)
            tb = tb.tb_next
        return found

    def _where(self, tb: TracebackType | None) -> str:
        frame = self._template_frame(tb)
        return "unknown line" if frame is None else f"{frame[0]}, line {frame[1]}"

    def _undefined_error(self, name: str, err: jinja2.UndefinedError) -> TemplateRenderError:
        frame = self._template_frame(err.__traceback__)
        line_text: str | None = None
        if frame is not None:
            try:
                lines = Path(frame[0]).read_text(encoding="utf-8").splitlines()
                line_text = lines[frame[1] - 1] if 0 < frame[1] <= len(lines) else None
            except OSError:
                line_text = None
        missing = _undefined_name(str(err))
        where = "unknown line" if frame is None else f"{frame[0]}, line {frame[1]}"
        if missing is None:
            return TemplateRenderError(
                f"Template {name!r} ({where}) used an undefined value: {_clause(str(err))}. Pass "
                "the value in the notification data, or guard it with a default.",
                template=name,
            )
        variable = _dotted_path(missing, line_text)
        return TemplateRenderError(
            f"Template {name!r} ({where}) uses {variable!r}, which is not in the data it was "
            f"rendered with ({err}). Add {variable!r} to the notification data, or make it "
            f"optional in the template: {{{{ {variable} | default('') }}}}.",
            template=name,
            variable=variable,
        )
