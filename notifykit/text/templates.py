"""Rendering notification text (SMS bodies, voice-call speech) from Jinja2 templates.

Templates run in Jinja's sandbox with :class:`~jinja2.StrictUndefined`, so a template can only read
the data it is given and a missing value is an error naming the variable, never an empty gap in a
message someone is woken up by. There is no HTML autoescaping: SMS and speech are plain text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifykit.errors import TemplateNotFoundError, TemplateRenderError

__all__ = ["DEFAULT_TEMPLATE_DIR", "IST", "TemplateEngine", "digits_filter", "ist", "phone_filter"]

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
}


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
    ``digits``, ``phone``); a name given here replaces a built-in one of the same name.
    """

    def __init__(
        self,
        search_path: Sequence[str | os.PathLike[str]] = (),
        *,
        plugin_paths: Sequence[str | os.PathLike[str]] = (),
        filters: Mapping[str, Callable[..., Any]] | None = None,
        globals: Mapping[str, Any] | None = None,
        include_defaults: bool = True,
    ) -> None:
        if isinstance(search_path, (str, os.PathLike)):
            # A lone string is a Sequence too; iterating it would search one directory per letter.
            raise TypeError("search_path must be a list of directories, not a single path")
        dirs = [Path(d) for d in search_path] + [Path(d) for d in plugin_paths]
        if include_defaults:
            dirs.append(DEFAULT_TEMPLATE_DIR)
        self._dirs: tuple[Path, ...] = tuple(dirs)
        self._env = ImmutableSandboxedEnvironment(
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
        try:
            template = self._env.get_template(template_name)
            return template.render(data).rstrip()
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
