"""``notifykit config check`` and ``notifykit templates render|list``: a config file validated
(its templates rendered with sample values and checked as a send would check them), and the
message templates shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from notifykit.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    SEVERITY,
    State,
    data_options,
    group,
    parse_data,
    plugin_registry,
    split_list,
)
from notifykit.cli.output import Line, Result, error
from notifykit.config.schema import did_you_mean
from notifykit.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from notifykit.channels import TemplateSettings
    from notifykit.config.loader import Config

__all__ = ["COMMANDS", "config", "event_problems", "template_problems", "templates"]


# -- config ------------------------------------------------------------------------------------


@group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--strict", is_flag=True, help="Warnings (an inline secret...) fail the check too.")
@click.option(
    "--strict-events",
    is_flag=True,
    help="Events no route or events: entry names are problems (see --event).",
)
@click.option("--event", "events", multiple=True, metavar="E",
              help="An event the application sends, for --strict-events; repeatable.")  # fmt: skip
def config_check(
    file: str | None, strict: bool, strict_events: bool, events: tuple[str, ...]
) -> Result:
    """Validate FILE (default: --config, $NOTIFYKIT_CONFIG, ./notifykit.yaml): print every problem
    as file:line: key.path: message, and every warning (a secret written in the file instead of
    ${ENV}, an unset ${ENV}: no secret is needed here...) as "warning: file:line: key.path:
    message". Exit 0 when valid (warnings allowed, unless --strict), 3 otherwise."""
    from notifykit.config.loader import find_config
    from notifykit.notifier import Notifier
    from notifykit.plugins import get_plugin_manager

    state = State.current()
    path = find_config(file or state.config)
    try:
        # Build every channel and client too, sending nothing: their plugins check settings the
        # schema cannot (a flow needs exactly one of app_id and url...), and a config that passes
        # here must not be refused by `notify`. No secret is needed (CI has the file, not the
        # credentials): an unset ${VAR} is a warning, which --strict makes fail.
        with Notifier.from_config(
            path,
            sandbox=state.sandbox,
            dry_run=True,
            require_secrets=False,
            plugin_manager=get_plugin_manager(),
        ) as notifier:
            cfg = notifier.config
            state.loaded(cfg)
    except ConfigError as err:
        return _problems(path, err.problems)
    exposed = _open_webhook(cfg)
    if exposed is not None:
        return _problems(path, [exposed])
    summary = {
        "accounts": len(cfg.accounts),
        "channels": len(cfg.channels),
        "recipients": len(cfg.recipients),
        "groups": len(cfg.groups),
        "templates": len(cfg.templates),
        "events": len(cfg.events),
    }
    # Config.warnings: problems that do not stop a config from working (a secret written inline).
    warnings: Sequence[ConfigProblem] = tuple(getattr(cfg, "warnings", ()) or ())
    mismatched, notes = template_problems(cfg)
    if mismatched:
        return _problems(path, mismatched, notes=notes)
    if strict_events:
        unknown = event_problems(cfg, split_list(events) or ())
        if unknown:
            return _problems(path, unknown, what="unknown event", why=" (--strict-events)")
    failed = strict and bool(warnings)
    scrub = state.logs.scrub
    checked = {
        "ok": not failed,
        "file": str(path),
        "problems": [],
        "warnings": [{**_problem_dict(w), "message": scrub(w.message)} for w in warnings],
        "notes": notes,
        **summary,
    }
    text = _checked_text(path, [scrub(str(w)) for w in warnings], notes, summary, failed=failed)
    return Result(checked, text, EXIT_USAGE if failed else EXIT_OK)


def _problems(
    path: Path,
    problems: Sequence[ConfigProblem],
    *,
    notes: Sequence[str] | None = None,
    what: str = "problem",
    why: str = "",
) -> Result:
    """A config that fails the check: each problem (``file:line: key.path: message``), the
    notes, and an ``error:`` line counting the problems; as JSON, ``ok: false`` and the
    problems (and the notes, when given). Exit 3."""
    found: dict[str, Any] = {
        "ok": False,
        "file": str(path),
        "problems": [_problem_dict(p) for p in problems],
    }
    if notes is not None:
        found["notes"] = notes
    n = len(problems)
    text: list[str | Line] = [
        *(str(problem) for problem in problems),
        *(f"note: {note}" for note in notes or ()),
        error(f"{path}: {n} {what}{'s' if n != 1 else ''}{why}"),
    ]
    return Result(found, text, EXIT_USAGE)


def _checked_text(
    path: Path,
    warnings: Sequence[str],
    notes: Sequence[str],
    summary: Mapping[str, int],
    *,
    failed: bool,
) -> Iterator[str | Line]:
    """A config that passed the check (or failed it on warnings alone, with --strict)."""
    for warning in warnings:
        yield click.style("warning: ", fg="yellow") + warning
    for note in notes:
        yield f"note: {note}"
    parts = ", ".join(f"{n} {k if n != 1 else k[:-1]}" for k, n in summary.items())
    n = len(warnings)
    noted = f", {n} warning{'s' if n != 1 else ''}" if n else ""
    if failed:
        yield error(f"{path}: {n} warning{'s' if n != 1 else ''} (--strict)")
    else:
        yield f"{path}: OK ({parts}){noted}"


def template_problems(cfg: Any) -> tuple[list[ConfigProblem], list[str]]:
    """``config check``: render each variant of each template with ``templates:`` settings with
    sample values and run the checks ``templates render`` runs (each channel type's
    ``inspect``: for Exotel SMS, length and the DLT pattern), so a template edited away from its
    registered text is a problem at the entry's line rather than a refusal at the first alert.

    Returns the problems, and notes on templates sample values could not render (a filter that
    needs a real date, say), which are left to ``templates render --data``.
    """
    from notifykit.errors import TemplateError

    engine = cfg.template_engine
    inspected = {
        ct.template_suffix
        for ct in plugin_registry().channel_types.values()
        if ct.inspect is not None
    }
    problems: list[ConfigProblem] = []
    notes: list[str] = []
    for name, settings in cfg.templates.items():
        event, severity = _sample_event(cfg, name)
        for variant in _template_suffixes():
            qualified = f"{name}.{variant}"
            if variant not in inspected or not engine.exists(qualified):
                continue
            try:
                body = _render_with_samples(engine, qualified, event, severity)
            except TemplateError as err:
                notes.append(
                    f"templates.{name}: {qualified} could not be rendered with sample values, so "
                    f"it was not checked against its settings ({err}); check it with "
                    f"`notifykit templates render {qualified} --data KEY=VALUE...`"
                )
                continue
            failed = [i for i in _inspections(variant, body, settings) if not i.ok]
            if failed:
                lines = [line for i in failed for line in i.lines]
                # the lines templates render shows in red (see _styled_check), if it marks any
                bad = [line for line in lines if "MISMATCH" in line or "OVER " in line]
                shown = body if len(body) <= 160 else body[:159] + "…"
                problems.append(
                    ConfigProblem(
                        cfg.source,
                        cfg.template_lines.get(name),
                        f"templates.{name}",
                        f"{qualified} ({engine.locate(qualified)}) rendered with sample values "
                        f"as {shown!r} fails its checks: {'; '.join(bad or lines)}",
                    )
                )
    return problems, notes


def _sample_event(cfg: Any, template: str) -> tuple[str, str]:
    """The event and severity to render ``template`` with: the first event using it, else an
    example event at the default severity."""
    for event in cfg.events.values():
        if event.template == template:
            return event.name, event.severity or cfg.defaults.severity
    return "example.event", cfg.defaults.severity


#: how many missing variables a template may ask for before ``config check`` gives up on it
_MAX_SAMPLES = 64


def _render_with_samples(engine: Any, name: str, event: str, severity: str) -> str:
    """Render ``name`` giving each variable it requires (a top-level name or ``data.key`` with no
    default) a sample value, its own name: ``{{ data.host }}`` renders as ``host``. What has a
    default keeps it (``data.since | default(now)``). Raises the template's error when it needs
    more than a sample string (a date, a number, a nested value)."""
    from notifykit.errors import TemplateRenderError
    from notifykit.plan.planner import template_context

    data: dict[str, Any] = {}
    for _ in range(_MAX_SAMPLES):
        try:
            return str(engine.render(name, template_context(event, severity, data)))
        except TemplateRenderError as err:
            key = (err.variable or "").removeprefix("data.")
            if not key.isidentifier() or key in data:
                raise
            data[key] = key[:20]
    return str(engine.render(name, template_context(event, severity, data)))


def _open_webhook(cfg: Any) -> ConfigProblem | None:
    """``POST /alertmanager`` reachable beyond this machine without a token (and no
    ``webhook_token: none``): a problem of the config, though it loads (notify never serves)."""
    from notifykit.config.delivery import open_webhook_problem

    server = getattr(cfg, "server", None)
    return open_webhook_problem(cfg.source, server) if server is not None else None


def _problem_dict(problem: ConfigProblem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "path": problem.path,
        "message": problem.message,
    }


def event_problems(config: Config, events: Sequence[str]) -> list[ConfigProblem]:
    """``config check --strict-events``: each of ``events`` (what the application sends) that
    neither ``events:`` nor a route's ``event`` matcher names, and each ``event="..."`` matcher
    naming an event missing from a non-empty ``events:`` (a misspelling in the tree)."""
    problems = []
    routing = config.routing
    known = set(config.events) | (routing.named_events() if routing else set())
    for event in events:
        if config.unknown_event(event):
            problems.append(
                ConfigProblem(
                    config.source,
                    None,
                    "events",
                    f"event {event!r} is named by no route and no events: entry"
                    f"{did_you_mean(event, known)}; it would go to the root receiver",
                )
            )
    if routing is not None and not routing.implicit and config.events:
        for node in routing.tree.walk():
            for matcher in node.matchers:
                named = matcher.name == "event" and matcher.op == "="
                if named and matcher.value not in config.events:
                    problems.append(
                        ConfigProblem(
                            config.source,
                            None,
                            f"{node.path}.matchers",
                            f"{matcher} names an event missing from events:"
                            f"{did_you_mean(matcher.value, config.events)}",
                        )
                    )
    return problems


# -- templates ---------------------------------------------------------------------------------


@group()
def templates() -> None:
    """Render and list message templates."""


def _engine_and_settings() -> tuple[Any, Callable[[str], Any]]:
    """The config's template engine and per-template settings, or, without a config, an engine
    over ./templates and notifykit's defaults."""
    from notifykit.config.loader import find_config, load_config
    from notifykit.errors import ConfigNotFoundError

    state = State.current()
    registry = plugin_registry()
    try:
        path = find_config(state.config)
    except ConfigNotFoundError:
        if state.config:
            raise
        from notifykit.text.templates import TemplateEngine

        local = [Path("templates")] if Path("templates").is_dir() else []
        engine = TemplateEngine(
            local,
            plugin_paths=registry.template_dirs,
            filters=registry.template_filters,
            globals=registry.template_globals,
        )
        from notifykit.channels import TemplateSettings

        return engine, lambda name: TemplateSettings()
    cfg = load_config(path, registry=registry, sandbox=True)
    return cfg.template_engine, cfg.template_settings


def _template_suffixes() -> tuple[str, ...]:
    """The template suffixes the channel types use (``sms``, ``voice``...), longest first."""
    suffixes = {ct.template_suffix for ct in plugin_registry().channel_types.values()}
    return tuple(sorted((s for s in suffixes if s), key=len, reverse=True)) or ("sms", "voice")


def _split_template_name(name: str, suffixes: Sequence[str]) -> tuple[str, str | None]:
    """``db_down.sms.j2``, ``db_down.sms`` -> ``("db_down", "sms")``; ``db_down`` -> ``("db_down",
    None)``. The name ``templates list`` prints (the file name) means the same template as the
    name ``notify`` renders, so both get the SMS and DLT checks."""
    from notifykit.text.templates import TEMPLATE_SUFFIX

    stem = name.removesuffix(TEMPLATE_SUFFIX)
    for suffix in suffixes:
        if stem.endswith(f".{suffix}") and len(stem) > len(suffix) + 1:
            return stem[: -len(suffix) - 1], suffix
    return stem, None


@templates.command("render")
@click.argument("name")
@data_options
@click.option("--severity", "-s", type=SEVERITY, default="warning", show_default=True)
@click.option("--event", "-e", default="example.event", show_default=True)
def templates_render(
    name: str, data: tuple[str, ...], data_json: str | None, severity: str, event: str
) -> Result:
    """Render template NAME (db_down.sms, or db_down for every variant) and show its body,
    SMS encoding, length, segments and DLT check."""
    from notifykit.errors import TemplateNotFoundError
    from notifykit.notifier import template_context

    engine, settings_for = _engine_and_settings()
    payload = parse_data(data, data_json)
    base, suffix = _split_template_name(name, _template_suffixes())
    if suffix:
        names = [f"{base}.{suffix}"]
    elif "." in name:  # a suffix no channel type uses (``notes.txt``): render it as named
        names = [name]
    else:
        names = [f"{base}.{s}" for s in ("sms", "voice") if engine.exists(f"{base}.{s}")]
        if not names:
            raise TemplateNotFoundError(
                f"no template {base}.sms or {base}.voice found in "
                + ", ".join(str(d) for d in engine.search_dirs),
                template=base,
            )
    settings = settings_for(base)
    context = template_context(event, severity, payload)
    results = []
    code = EXIT_OK
    for qualified in names:
        body = engine.render(qualified, context)
        entry: dict[str, Any] = {
            "template": qualified,
            "file": str(engine.locate(qualified)),
            "body": body,
        }
        # The checks of the channel types that render this variant (names are normalised
        # above: ``db_down.sms.j2`` is ``db_down.sms`` here), without building any channel.
        variant = qualified.rsplit(".", 1)[-1] if "." in qualified else None
        inspections = _inspections(variant, body, settings)
        if inspections:
            for inspection in inspections:
                entry.update(inspection.info)
                if not inspection.ok:
                    code = EXIT_USAGE
            entry["checks"] = [line for i in inspections for line in i.lines]
        else:
            entry.update(chars=len(body))
        results.append(entry)
    return Result(results if len(results) > 1 else results[0], _rendered_text(results), code)


def _rendered_text(results: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for entry in results:
        yield click.style(f"{entry['template']}", bold=True) + f"  ({entry['file']})"
        yield "  " + entry["body"].replace("\n", "\n  ")
        for line in entry.get("checks", ()):
            yield f"  {_styled_check(line)}"
        if "checks" not in entry:
            yield f"  {entry['chars']} chars"


def _inspections(variant: str | None, body: str, settings: TemplateSettings) -> list[Any]:
    """What each channel type rendering ``variant`` says of ``body`` (``ChannelType.inspect``),
    once per distinct inspector."""
    seen: set[Any] = set()
    found = []
    for channel_type in plugin_registry().channel_types.values():
        inspect = channel_type.inspect
        if variant is None or channel_type.template_suffix != variant or inspect is None:
            continue
        if inspect in seen:
            continue
        seen.add(inspect)
        found.append(inspect(body, settings))
    return found


def _styled_check(line: str) -> str:
    for word, color in (("MISMATCH", "red"), ("OVER ", "red"), ("match", "green")):
        if word in line:
            head, _, tail = line.partition(word)
            return head + click.style(word, fg=color) + tail
    return line


@templates.command("list")
def templates_list() -> Result:
    """List every template, in lookup order of directories."""
    engine, _ = _engine_and_settings()
    names = engine.list_templates()
    rows = [{"name": n, "file": str(engine.locate(n))} for n in names]
    return Result(rows, (f"{row['name']}  {row['file']}" for row in rows))


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (config, templates)
