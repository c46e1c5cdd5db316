"""The ``notifykit`` command line (also ``python -m notifykit``): ``notify``, ``send``,
``config check``, ``templates``, ``plugins``, ``status``, ``simulator`` and ``init`` here; the
delivery commands in :mod:`notifykit.cli.delivery`, the routing ones in
:mod:`notifykit.cli.routing`, what they share in :mod:`notifykit.cli.common`. Exit codes: see
:mod:`notifykit.cli.common`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from notifykit.cli.complete import complete_channels, complete_events, complete_recipients
from notifykit.cli.scaffold import init_command
from notifykit.errors import (
    ConfigError,
    ConfigProblem,
)

if TYPE_CHECKING:
    from notifykit.channels import TemplateSettings
    from notifykit.plugins import Registry
from notifykit.cli.common import (
    _SEVERITY,
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    NotifykitGroup,
    _error,
    _Failure,
    _finish,
    _finish_interrupted,
    _interrupted_report,
    _parse_data,
    _sending,
    _split,
    _State,
    _state,
    _with_data,
    cli,
    exit_code,
    notification_options,
    parse_labels,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "cli",
    "exit_code",
    "main",
]


@cli.command()
@click.argument("event", shell_complete=complete_events)
@notification_options
@click.option("--key", metavar="K", help="The alert key (default: the event and its labels).")
@click.option("--resolved", is_flag=True, help="The alert is over: stop its escalation.")
def notify(
    event: str,
    severity: str | None,
    data: tuple[str, ...],
    data_json: str | None,
    to: tuple[str, ...],
    channels: tuple[str, ...],
    template: str | None,
    labels: tuple[str, ...],
    key: str | None,
    resolved: bool,
) -> int:
    """Send a notification for EVENT, like notify() in Python.

    Ctrl-C or SIGTERM while it sends starts no new request: the ones in flight are recorded,
    the others stay pending in the ledger (for `notifykit worker`), and it exits 4 naming the
    deliveries that may have been sent (3 if none was); a second signal stops waiting for the
    requests in flight (recorded unknown)."""
    payload = _parse_data(data, data_json)
    notifier = _state().notifier()
    with _sending("notify") as stop:
        try:
            report = notifier.notify(
                event,
                severity=severity,
                data=payload,
                to=_split(to),
                channels=_split(channels),
                template=template,
                labels=parse_labels(labels),
                key=key,
                resolved=resolved,
            )
        except KeyboardInterrupt:
            interrupted = _interrupted_report(notifier, stop)
            if interrupted is None:
                raise  # nothing was stored: "Aborted."
            stop.abandon("SIGINT")
            report = interrupted
        if stop.stopped:
            return _finish_interrupted(report, stop, notifier.ledger.location)
        return _finish(report)


@cli.command()
@click.argument("kind")
@click.option("--channel", metavar="C", help="Channel name (default: the only one of KIND).",
              shell_complete=complete_channels)  # fmt: skip
@click.option("--to", "-t", multiple=True, required=True, metavar="R",
              help="Recipient, group or phone number; repeatable.",
              shell_complete=complete_recipients)  # fmt: skip
@click.option("--body", "-b", metavar="TEXT", help="The text to send (instead of a template).")
@click.option("--template", metavar="T", help="Template to render (default: defaults.template).")
@_with_data
@click.option("--severity", "-s", type=_SEVERITY, default="info", show_default=True)
def send(
    kind: str,
    channel: str | None,
    to: tuple[str, ...],
    body: str | None,
    template: str | None,
    data: tuple[str, ...],
    data_json: str | None,
    severity: str,
) -> int:
    """Send one message through one configured channel of KIND (what its channel type delivers:
    sms, call, flow with the Exotel plugin; `notifykit plugins` lists them)."""
    if body is not None and template is not None:
        raise click.UsageError("give --body or --template, not both")
    notifier = _state().notifier()
    kinds = sorted({notifier.channel_type(n).kind for n in notifier.channels})
    if kind not in kinds:
        from notifykit.config.schema import did_you_mean

        raise click.UsageError(
            f"no channel of kind {kind!r}{did_you_mean(kind, kinds)} is configured; "
            f"kinds configured: {', '.join(kinds) or 'none'}"
        )
    of_kind = [n for n in notifier.channels if notifier.channel_type(n).kind == kind]
    if channel is None:
        if len(of_kind) != 1:
            found = ", ".join(of_kind) or "none"
            raise click.UsageError(
                f"pick the channel with --channel: {len(of_kind)} {kind} channels configured "
                f"({found})"
            )
        channel = of_kind[0]
    elif channel in notifier.channels and channel not in of_kind:
        actual = notifier.channel_type(channel)
        raise click.UsageError(
            f"channel {channel!r} is a {actual.kind} channel ({actual.name}), not {kind}"
        )
    if body is not None and notifier.channel_type(channel).template_suffix is None:
        raise click.UsageError(
            f"a {kind} channel carries no text (it connects two numbers): drop --body"
        )
    payload = _parse_data(data, data_json)
    with _sending("send") as stop:
        try:
            report = notifier.send(
                channel,
                to=_split(to),
                body=body,
                template=template,
                data=payload,
                severity=severity,
                event=f"send.{kind}",
            )
        except KeyboardInterrupt:
            interrupted = _interrupted_report(notifier, stop)
            if interrupted is None:
                raise
            stop.abandon("SIGINT")
            report = interrupted
        if stop.stopped:
            return _finish_interrupted(report, stop, notifier.ledger.location)
        return _finish(report)


# -- config ------------------------------------------------------------------------------------


@cli.group()
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
) -> int:
    """Validate FILE (default: --config, $NOTIFYKIT_CONFIG, ./notifykit.yaml): print every problem
    as file:line: key.path: message, and every warning (a secret written in the file instead of
    ${ENV}, an unset ${ENV}: no secret is needed here...) as "warning: file:line: key.path:
    message". Exit 0 when valid (warnings allowed, unless --strict), 3 otherwise."""
    from notifykit.config.loader import find_config
    from notifykit.notifier import Notifier
    from notifykit.plugins import get_plugin_manager

    state = _state()
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
        if state.json:
            state.output(
                {
                    "ok": False,
                    "file": str(path),
                    "problems": [_problem_dict(p) for p in err.problems],
                }
            )
        else:
            for problem in err.problems:
                click.echo(str(problem))
            n = len(err.problems)
            _error(f"{path}: {n} problem{'s' if n != 1 else ''}")
        return EXIT_USAGE
    exposed = _open_webhook(cfg)
    if exposed is not None:
        if state.json:
            state.output({"ok": False, "file": str(path), "problems": [_problem_dict(exposed)]})
        else:
            click.echo(str(exposed))
            _error(f"{path}: 1 problem")
        return EXIT_USAGE
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
        if state.json:
            state.output(
                {
                    "ok": False,
                    "file": str(path),
                    "problems": [_problem_dict(p) for p in mismatched],
                    "notes": notes,
                }
            )
        else:
            for problem in mismatched:
                click.echo(str(problem))
            for note in notes:
                click.echo(f"note: {note}")
            n = len(mismatched)
            _error(f"{path}: {n} problem{'s' if n != 1 else ''}")
        return EXIT_USAGE
    if strict_events:
        from notifykit.cli.routing import event_problems

        unknown = event_problems(cfg, _split(events) or ())
        if unknown:
            if state.json:
                state.output(
                    {
                        "ok": False,
                        "file": str(path),
                        "problems": [_problem_dict(p) for p in unknown],
                    }
                )
            else:
                for problem in unknown:
                    click.echo(str(problem))
                n = len(unknown)
                _error(f"{path}: {n} unknown event{'s' if n != 1 else ''} (--strict-events)")
            return EXIT_USAGE
    failed = strict and bool(warnings)
    if state.json:
        state.output(
            {
                "ok": not failed,
                "file": str(path),
                "problems": [],
                "warnings": [
                    {**_problem_dict(w), "message": state.logs.scrub(w.message)} for w in warnings
                ],
                "notes": notes,
                **summary,
            }
        )
    else:
        for warning in warnings:
            click.echo(click.style("warning: ", fg="yellow") + state.logs.scrub(str(warning)))
        for note in notes:
            click.echo(f"note: {note}")
        parts = ", ".join(f"{n} {k if n != 1 else k[:-1]}" for k, n in summary.items())
        n = len(warnings)
        noted = f", {n} warning{'s' if n != 1 else ''}" if n else ""
        if failed:
            _error(f"{path}: {n} warning{'s' if n != 1 else ''} (--strict)")
        else:
            click.echo(f"{path}: OK ({parts}){noted}")
    return EXIT_USAGE if failed else EXIT_OK


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
        ct.template_suffix for ct in _registry().channel_types.values() if ct.inspect is not None
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


def _registry() -> Registry:
    """The plugins' registry, loaded once per command."""
    from notifykit.plugins import Registry, get_plugin_manager

    state = _state()
    if state.registry is None:
        state.registry = Registry.from_manager(get_plugin_manager())
    return state.registry


# -- templates ---------------------------------------------------------------------------------


@cli.group()
def templates() -> None:
    """Render and list message templates."""


def _engine_and_settings() -> tuple[Any, Callable[[str], Any]]:
    """The config's template engine and per-template settings, or, without a config, an engine
    over ./templates and notifykit's defaults."""
    from notifykit.config.loader import find_config, load_config
    from notifykit.errors import ConfigNotFoundError

    state = _state()
    registry = _registry()
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
    suffixes = {ct.template_suffix for ct in _registry().channel_types.values()}
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
@_with_data
@click.option("--severity", "-s", type=_SEVERITY, default="warning", show_default=True)
@click.option("--event", "-e", default="example.event", show_default=True)
def templates_render(
    name: str, data: tuple[str, ...], data_json: str | None, severity: str, event: str
) -> int:
    """Render template NAME (db_down.sms, or db_down for every variant) and show its body,
    SMS encoding, length, segments and DLT check."""
    from notifykit.errors import TemplateNotFoundError
    from notifykit.notifier import template_context

    state = _state()
    engine, settings_for = _engine_and_settings()
    payload = _parse_data(data, data_json)
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
    if state.json:
        state.output(results if len(results) > 1 else results[0])
        return code
    for entry in results:
        click.echo(click.style(f"{entry['template']}", bold=True) + f"  ({entry['file']})")
        click.echo("  " + entry["body"].replace("\n", "\n  "))
        for line in entry.get("checks", ()):
            click.echo(f"  {_styled_check(line)}")
        if "checks" not in entry:
            click.echo(f"  {entry['chars']} chars")
    return code


def _inspections(variant: str | None, body: str, settings: TemplateSettings) -> list[Any]:
    """What each channel type rendering ``variant`` says of ``body`` (``ChannelType.inspect``),
    once per distinct inspector."""
    seen: set[Any] = set()
    found = []
    for channel_type in _registry().channel_types.values():
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
def templates_list() -> int:
    """List every template, in lookup order of directories."""
    state = _state()
    engine, _ = _engine_and_settings()
    names = engine.list_templates()
    rows = [{"name": n, "file": str(engine.locate(n))} for n in names]
    if state.json:
        state.output(rows)
    else:
        for row in rows:
            click.echo(f"{row['name']}  {row['file']}")
    return EXIT_OK


# -- plugins, status ---------------------------------------------------------------------------


@cli.command()
def plugins() -> int:
    """List loaded plugins: versions, hooks, channel types and providers."""
    from notifykit.plugins import known_plugin_names

    state = _state()
    registry = _registry()
    infos = registry.plugin_infos()
    if state.json:
        state.output(
            {
                "plugins": [i.to_dict() for i in infos],
                "blocked": registry.blocked(),
                "channel_types": {
                    name: {
                        "plugin": registry.owners[("channel_type", name)],
                        "kind": ct.kind,
                        "template": ct.template_suffix,
                        "provider": ct.provider,
                        "description": ct.description,
                    }
                    for name, ct in sorted(registry.channel_types.items())
                },
            }
        )
        return EXIT_OK
    for info in infos:
        version = f" {info.version}" if info.version else ""
        package = f" ({info.package}{version})" if info.package else ""
        click.echo(click.style(info.name, bold=True) + package)
        click.echo(f"  hooks: {', '.join(info.hooks) or '-'}")
        for name in info.channel_types:
            ct = registry.channel_types[name]
            click.echo(f"  channel type {name}: {ct.description}")
        for name in info.providers:
            click.echo(f"  provider {name}: {registry.providers[name].description}")
    known = known_plugin_names()
    for name in registry.blocked():
        why = "blocked by" if name in known else "named in"
        note = "" if name in known else ", but matches no plugin"
        click.echo(click.style(name, bold=True) + f" ({why} NOTIFYKIT_DISABLE_PLUGINS{note})")
    return EXIT_OK


@cli.command()
@click.argument("sid")
@click.option("--account", "-a", metavar="A", help="Account name (default: the only one).")
@click.option("--kind", metavar="KIND", help="What the id is (sms, call...; default: try each).")
def status(sid: str, account: str | None, kind: str | None) -> int:
    """Look up the status of an SMS or a call by its provider id (SID)."""
    state = _state()
    notifier = state.notifier()
    accounts = notifier.config.accounts
    if account is None:
        if len(accounts) != 1:
            names = ", ".join(accounts) or "none"
            raise click.UsageError(f"pick the account with --account ({names})")
        account = next(iter(accounts))
    elif account not in accounts:
        raise click.UsageError(f"no account named {account!r} ({', '.join(accounts) or 'none'})")
    provider = notifier.registry.providers[accounts[account].provider]
    if provider.lookup is None:
        raise _Failure(f"provider {provider.name!r} cannot look up statuses", EXIT_USAGE)
    result = provider.lookup(notifier.client(account), sid, kind)
    if state.json:
        state.output(dict(result))
    else:
        _print_mapping(result)
    return EXIT_OK


def _print_mapping(result: Mapping[str, Any]) -> None:
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        if value is None:
            continue
        click.echo(f"{key.ljust(width)}  {value}")


# -- init, simulator ---------------------------------------------------------------------------

cli.add_command(init_command)

#: commands whose arguments are passed on untouched (no global options added after them)
_PASS_THROUGH = frozenset({"simulator"})


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulator(args: tuple[str, ...]) -> int:
    """Run the local Exotel simulator in the foreground (python -m notifykit_exotel.simulator);
    every argument is its own: notifykit simulator --help lists them."""
    run = _simulator_main()
    # The simulator sets up its own logging (a line per request); the CLI's handlers would
    # swallow it.
    _state().logs.restore()
    try:
        code = run(list(args))
    except SystemExit as err:  # argparse: --help (0) or a usage error (2)
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    # argparse's (and the simulator's) usage errors exit 2, which here means something else.
    return EXIT_USAGE if code == 2 else int(code or 0)


def _simulator_main() -> Callable[[list[str]], int | None]:
    """The simulator's ``main(argv)``: from its package once it exports one, else its
    ``__main__`` module. Imported here, not at start-up: only this command needs the server."""
    try:
        from notifykit_exotel import simulator as package
    except ImportError as err:
        raise _Failure(
            f"the Exotel plugin is not installed ({err}): pip install notifykit-pager", EXIT_USAGE
        ) from None
    run = getattr(package, "main", None)
    if not callable(run):
        import importlib

        run = importlib.import_module("notifykit_exotel.simulator.__main__").main
    return cast("Callable[[list[str]], int | None]", run)


# -- the global options, accepted after the command too --------------------------------------


def _set_global(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback that sets a global option from a subcommand's position."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        state = ctx.find_object(_State)
        if state is not None:
            setattr(state, attr, value)
        if attr == "json":
            root = ctx.find_root().command
            if isinstance(root, NotifykitGroup):
                root.json_errors = True
        return value

    return callback


def _add_global_options(group: click.Group) -> None:
    """Let ``--config``, ``--sandbox``, ``--dry-run`` and ``--json`` also follow the command
    (``notifykit notify db.down --sandbox``), as well as precede it."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _add_global_options(command)
            continue
        if command.name in _PASS_THROUGH:
            continue  # its arguments are another program's
        command.params.extend(
            [
                click.Option(["--config", "-c"], metavar="FILE", expose_value=False,
                             callback=_set_global("config"), help="Same as before the command."),
                click.Option(["--sandbox"], is_flag=True, expose_value=False,
                             callback=_set_global("sandbox"), help="Same as before the command."),
                click.Option(["--dry-run"], is_flag=True, expose_value=False,
                             callback=_set_global("dry_run"), help="Same as before the command."),
                click.Option(["--json"], is_flag=True, expose_value=False,
                             callback=_set_global("json"), help="Same as before the command."),
                click.Option(["--verbose", "-v"], is_flag=True, expose_value=False,
                             callback=_set_global("verbose"), help="Same as before the command."),
            ]
        )  # fmt: skip


# The delivery commands (submit, worker, serve, history...) register on `cli` when imported; they
# must be registered before the global options are added to every command.
from notifykit.cli import delivery  # noqa: E402, F401

from notifykit.cli import routing  # noqa: E402, F401  # isort: skip

_add_global_options(cli)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="notifykit")
    raise AssertionError("unreachable")  # pragma: no cover
