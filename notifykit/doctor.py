"""``notifykit doctor``: run the checks the plugins registered (``register_checks``) against a
loaded config, and collect what they find.

:func:`diagnose` builds a :class:`DoctorContext` over a :class:`~notifykit.Notifier` (the
validated config, the plugins' registry, the account clients for ``online`` runs), runs every
registered :class:`~notifykit.checks.Check` (online ones only when asked), and returns a
:class:`Diagnosis`: the findings, each with the file, line and key path it is about, worst
first. The core checks nothing of its own here: what India's DLT rules or Exotel's API say
belongs to the plugins that own them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from notifykit.checks import SEVERITIES, Check, Finding, Severity, Use
from notifykit.config.schema import join, scrubber
from notifykit.errors import NotifykitError

if TYPE_CHECKING:
    from notifykit.channels import ChannelType, Recipient
    from notifykit.notifier import Notifier

__all__ = ["Diagnosis", "DoctorContext", "diagnose", "key_lines"]

logger = logging.getLogger("notifykit")

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Diagnosis:
    """What ``doctor`` found: ``findings`` worst first (errors, warnings, notes; each by line),
    the names of the ``checks`` that ran, and whether the run was ``online``."""

    file: str
    online: bool
    checks: tuple[str, ...]
    findings: tuple[Finding, ...]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def ok(self, strict: bool = False) -> bool:
        """No error (and, when ``strict``, no warning either); notes never count."""
        bad = ("error", "warning") if strict else ("error",)
        return not any(f.severity in bad for f in self.findings)

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(strict),
            "file": self.file,
            "online": self.online,
            "strict": strict,
            "checks": list(self.checks),
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "notes": self.count("note"),
            "findings": [f.to_dict() for f in self.findings],
        }


def key_lines(text: str) -> dict[str, int]:
    """The line of every key path of a YAML config text (``channels.sms.senders.default``,
    ``groups.oncall[1]``), as config problems name them. Keys written out win over keys merged
    in (``<<: *x``), whose line is the merged block's. Empty for text that does not parse (the
    config loaded, so that is a mapping config or a file changed since)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    _walk(root, "", lines)
    return lines


def _walk(node: yaml.Node | None, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        merged = []
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                merged.append(value)
            elif isinstance(key, yaml.ScalarNode):
                sub = join(path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                _walk(value, sub, lines)
        for value in merged:  # explicit keys win: only fill in what they left
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                extra: dict[str, int] = {}
                _walk(source, path, extra)
                for sub, line in extra.items():
                    lines.setdefault(sub, line)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            sub = f"{path}[{index}]"
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines)


class DoctorContext:
    """The :class:`~notifykit.checks.CheckContext` of one ``doctor`` run."""

    def __init__(self, notifier: Notifier, *, online: bool) -> None:
        self._notifier = notifier
        self._online = online
        source = notifier.config.source
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
        except (OSError, UnicodeDecodeError):
            text = ""
        self._lines = key_lines(text) if text else {}
        self._uses: list[Use] | None = None
        self.scrub: Callable[[str], str] = scrubber(notifier.config.secrets)

    @property
    def config(self) -> Any:
        return self._notifier.config

    @property
    def online(self) -> bool:
        return self._online

    @property
    def channel_types(self) -> Mapping[str, ChannelType]:
        return self._notifier.registry.channel_types

    def client(self, account: str) -> Any:
        if not self._online:
            raise NotifykitError(
                "an offline doctor run has no provider clients: register the check with "
                "Check(online=True)"
            )
        return self._notifier.client(account)

    def line(self, path: str) -> int | None:
        while path:
            line = self._lines.get(path)
            if line is not None:
                return line
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return None
            path = path[:cut]
        return None

    def finding(self, severity: Severity, path: str, message: str) -> Finding:
        return Finding(severity, path, message, file=self.config.source, line=self.line(path))

    def uses(self) -> Sequence[Use]:
        if self._uses is None:
            self._uses = _uses(self.config, self._notifier)
        return self._uses

    def complete(self, finding: Finding, check: str) -> Finding:
        """``finding`` from check ``check``: the file and line filled in, secrets scrubbed."""
        return dataclasses.replace(
            finding,
            message=self.scrub(finding.message),
            path=self.scrub(finding.path),
            file=finding.file or self.config.source,
            line=finding.line if finding.line is not None else self.line(finding.path),
            check=check,
        )


def _uses(config: Any, notifier: Notifier) -> list[Use]:
    """Every (channel, template, recipients) the config can send: each receiver of the routing
    and each step of its escalation (with its own template, or else each event's and the
    default one, since any event may route to it), each event, and the defaults."""
    defaults = config.defaults
    found: list[tuple[Iterable[str], str, Iterable[str], str, bool]] = []
    routing = config.routing
    # A receiver without a template of its own sends the routed event's, or the default one.
    any_event = list(
        dict.fromkeys(
            [e.template for e in config.events.values() if e.template] + [defaults.template]
        )
    )
    if routing is not None and not routing.implicit:
        for receiver in routing.receivers.values():
            templates = [receiver.template] if receiver.template else any_event
            policy = routing.escalation_of(receiver)
            for template in templates:
                if policy is None:
                    found.append((receiver.channels, template, receiver.to, receiver.path, False))
                    continue
                for index, step in enumerate(policy.steps):
                    path = f"escalations.{policy.name}.steps[{index}]"
                    found.append((step.channels, template, step.to, path, True))
    for name, event in config.events.items():
        channels = event.channels if event.channels is not None else defaults.channels
        to = event.to if event.to is not None else defaults.to
        found.append((channels, event.template or defaults.template, to, f"events.{name}", False))
    found.append((defaults.channels, defaults.template, defaults.to, "defaults", False))
    uses: list[Use] = []
    seen: set[tuple[Any, ...]] = set()
    for channels, template, targets, path, escalation in found:
        recipients = _recipients(notifier, targets)
        for channel in channels:
            settings = config.channels.get(channel)
            if settings is None:
                continue
            key = (channel, template, tuple(r.phone or r.label for r in recipients), escalation)
            if key in seen:
                continue
            seen.add(key)
            uses.append(Use(channel, settings.type, template, recipients, path, escalation))
    return uses


def _recipients(notifier: Notifier, targets: Iterable[str]) -> tuple[Recipient, ...]:
    targets = list(targets)
    if not targets:
        return ()
    try:
        return tuple(notifier.resolve_recipients(targets))
    except NotifykitError:  # validated at load; a check must not fail on what it did not cause
        return ()


def diagnose(
    notifier: Notifier, *, online: bool = False, checks: Sequence[str] | None = None
) -> Diagnosis:
    """Run the registered checks over ``notifier``'s config: offline ones, and online ones too
    when ``online`` (they ask providers' APIs through the account clients, so the notifier must
    have its secrets). ``checks`` names the checks to run (default: all).

    A check that raises is reported as an error finding naming it and its plugin, and the
    others still run: a broken check never passes silently.

    :raises NotifykitError: ``checks`` names a check no plugin registered, or an online check
        when not ``online``.
    """
    registry = notifier.registry
    available: dict[str, Check] = dict(registry.checks)
    if checks:
        unknown = [name for name in checks if name not in available]
        if unknown:
            from notifykit.config.schema import did_you_mean

            known = ", ".join(available) or "none (no plugin registers checks)"
            raise NotifykitError(
                f"no check named {unknown[0]!r}{did_you_mean(unknown[0], available)}; "
                f"checks: {known}"
            )
    if checks and not online:
        needing = [name for name in checks if available[name].online]
        if needing:
            raise NotifykitError(
                f"check {needing[0]!r} asks the provider's API: run it with --online "
                "(doctor(..., online=True))"
            )
    context = DoctorContext(notifier, online=online)
    ran: list[str] = []
    findings: list[Finding] = []
    for name, check in available.items():
        if checks and name not in checks:
            continue
        if check.online and not online:
            continue
        ran.append(name)
        try:
            found = list(check.run(context))
        except Exception as err:
            owner = registry.owners.get(("check", name), "?")
            logger.debug("check %s failed", name, exc_info=True)
            found = [
                Finding(
                    "error",
                    "",
                    f"check {name} (plugin {owner}) failed: {type(err).__name__}: {err}; it "
                    "checked nothing, so fix or report it (NOTIFYKIT_DEBUG=1 logs the traceback)",
                )
            ]
        findings.extend(context.complete(f, name) for f in found)
    rank = {severity: n for n, severity in enumerate(SEVERITIES)}
    unique = list(dict.fromkeys(findings))
    unique.sort(key=lambda f: (rank[f.severity], f.line is None, f.line or 0, f.path))
    return Diagnosis(notifier.config.source, online, tuple(ran), tuple(unique))
