"""``notifykit doctor``: before go-live, what a config's delivery would run into that the file's
validity does not show (India's DLT rules; with ``--online``, what the provider's API says of
the caller ids, the numbers and the account). The checks come from the plugins
(:mod:`notifykit.doctor`). Registered with the others by :mod:`notifykit.cli.app`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from notifykit.cli.common import EXIT_OK, EXIT_USAGE, Failure, State, command
from notifykit.cli.output import Line, Result, error
from notifykit.errors import ConfigError

if TYPE_CHECKING:
    from notifykit.checks import Finding
    from notifykit.doctor import Diagnosis

__all__ = ["COMMANDS", "doctor"]

_COLORS = {"error": "red", "warning": "yellow", "note": "cyan"}


@command()
@click.argument("file", required=False, metavar="[FILE]")
@click.option(
    "--online",
    is_flag=True,
    help="Also ask the providers' APIs (caller ids, numbers' DND and type, KYC, credentials): "
    "needs the secrets; sends nothing.",
)
@click.option("--strict", is_flag=True, help="Warnings fail the check too (exit 3).")
@click.option("--check", "only", multiple=True, metavar="NAME",
              help="Run only this check (repeatable); the output lists their names.")  # fmt: skip
def doctor(file: str | None, online: bool, strict: bool, only: tuple[str, ...]) -> Result:
    """Check FILE (default: --config, $NOTIFYKIT_CONFIG, ./notifykit.yaml) for what delivery
    would run into: India's DLT rules (registered variables, links to whitelist, sender and
    entity ids) offline; with --online, through the provider's API: caller ids that are not
    ExoPhones with voice, numbers' type and DND status, NDNC numbers to whitelist, KYC and
    credentials. Prints each finding as "error|warning|note: file:line: key.path: message".
    Exit 0 when no error (warnings allowed, unless --strict), 3 otherwise."""
    from notifykit.config.loader import find_config
    from notifykit.doctor import diagnose
    from notifykit.errors import NotifykitError
    from notifykit.notifier import Notifier
    from notifykit.plugins import get_plugin_manager

    state = State.current()
    if online and state.sandbox:
        raise Failure(
            "--online asks the real accounts, and --sandbox replaces them with a local "
            "simulator that knows none of your ExoPhones or numbers: drop --sandbox (or point "
            "an account's base_url at a simulator you started with your ExoPhones)",
            EXIT_USAGE,
        )
    path = find_config(file or state.config)
    try:
        # Offline, nothing needs a secret (CI has the file, not the credentials); online, the
        # clients do. Either way nothing is sent or stored (a dry run over an in-memory ledger).
        with Notifier.from_config(
            path,
            sandbox=state.sandbox,
            dry_run=True,
            require_secrets=online,
            store=":memory:",
            plugin_manager=get_plugin_manager(),
        ) as notifier:
            state.loaded(notifier.config)
            try:
                diagnosis = diagnose(notifier, online=online, checks=list(only) or None)
            except NotifykitError as err:
                raise click.BadParameter(str(err), param_hint="--check") from None
    except ConfigError as err:
        return _config_problems(path, online, err)
    ok = diagnosis.ok(strict)
    scrub = state.logs.scrub  # the environment's secrets too, as every line the CLI prints
    report = diagnosis.to_dict(strict)
    for finding in report["findings"]:
        finding["message"] = scrub(finding["message"])
    text = _diagnosis_lines(diagnosis, path, online, strict, scrub)
    return Result(report, text, EXIT_OK if ok else EXIT_USAGE)


def _config_problems(path: Path, online: bool, err: ConfigError) -> Result:
    """A config that does not load: its problems, as ``config check`` prints them."""
    problems = [
        {"severity": "error", "file": p.file, "line": p.line, "path": p.path,
         "message": p.message, "check": "config"}
        for p in err.problems
    ]  # fmt: skip
    n = len(problems)
    text: list[str | Line] = [
        click.style("error: ", fg="red") + str(problem) for problem in err.problems
    ]
    text.append(
        error(f"{path}: {n} config problem{'s' if n != 1 else ''}: nothing else was checked")
    )
    data = {
        "ok": False, "file": str(path), "online": online, "checks": ["config"],
        "errors": n, "warnings": 0, "notes": 0, "findings": problems,
    }  # fmt: skip
    return Result(data, text, EXIT_USAGE)


def _diagnosis_lines(
    diagnosis: Diagnosis, path: Path, online: bool, strict: bool, scrub: Callable[[str], str]
) -> Iterator[str | Line]:
    for finding in diagnosis.findings:
        yield _styled(finding, scrub(finding.message))
    counts = [
        f"{n} {word}{'s' if n != 1 else ''}"
        for word, n in (
            ("error", diagnosis.count("error")),
            ("warning", diagnosis.count("warning")),
            ("note", diagnosis.count("note")),
        )
        if n
    ]
    ran = ", ".join(diagnosis.checks) or "none"
    how = "online" if online else "offline: --online also asks the providers"
    summary = f"{path}: {', '.join(counts) or 'no findings'} (checks: {ran}; {how})"
    if diagnosis.ok(strict):
        yield summary if counts else f"{path}: OK (checks: {ran}; {how})"
    else:
        why = " (--strict)" if not diagnosis.count("error") else ""
        yield error(summary + why)


def _styled(finding: Finding, message: str) -> str:
    head = click.style(f"{finding.severity}: ", fg=_COLORS.get(finding.severity))
    return head + finding.where + message


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (doctor,)
