"""Loading and validating ``notifykit.yaml``.

:func:`load_config` reads the YAML with line numbers, substitutes ``${ENV_VAR}`` references, reads
every section into the settings class that declares it (the core's own, and each channel's and
account's the one its plugin registered) with the one converter, checks every reference between
sections (a channel naming a missing account, a
group naming a missing person, an event naming a missing template...), and raises one
:class:`~notifykit.errors.ConfigError` carrying *all* the problems found, each with file, line and
key path. Nothing can be sent from a config that failed here.

Every key is documented in ``config.example.yaml`` and in ``docs/configuration.md``'s settings
reference, generated from the declarations (:mod:`notifykit.config.reference`); the ``${VAR}``
substitution grammar in :mod:`notifykit.config.schema`.

Hostile or broken files fail fast, as config problems: YAML aliases can make a 1 kB file stand
for billions of nodes (``<<: [*a, *a, ...]`` nested), or for an infinite one (an alias inside the
node it names), and deep nesting overflows Python's stack. The file is composed by
:class:`BoundedComposer`, which refuses nesting deeper than :data:`MAX_DEPTH`, recursive aliases,
and aliases that together add more than :data:`MAX_ALIAS_NODES` nodes, each with the line where
the limit was hit.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from notifykit.channels import ChannelType, Recipient, TemplateSettings
from notifykit.config.console import ConsoleSettings, load_console
from notifykit.config.convert import (
    check_name,
    convert,
    convert_parts,
    looks_like_phone,
    named_items,
)
from notifykit.config.delivery import (
    CircuitSettings,
    FailoverSettings,
    RetrySettings,
    ServerSettings,
    StoreSettings,
    WorkerSettings,
    load_circuit,
    load_retry,
    load_server,
    load_store,
    load_worker,
)
from notifykit.config.heartbeats import HeartbeatSettings, load_heartbeats
from notifykit.config.paging import PagingLimits, load_paging_limits
from notifykit.config.scaleout import SECTIONS as SCALEOUT_SECTIONS
from notifykit.config.scaleout import ScaleoutSettings, load_scaleout
from notifykit.config.schema import (
    INVALID,
    Checker,
    describe,
    did_you_mean,
    join,
    mapping_items,
)
from notifykit.config.settings import Phone, Settings, Target, derived, setting
from notifykit.errors import ConfigError, ConfigNotFoundError, ConfigProblem
from notifykit.model import Severity
from notifykit.routing.model import ROUTING_SECTIONS

if TYPE_CHECKING:
    from notifykit.oncall import Schedule
    from notifykit.plugins import Registry
    from notifykit.routing.model import RoutingConfig
    from notifykit.text.templates import TemplateEngine

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "AccountConfig",
    "BoundedComposer",
    "ChannelConfig",
    "Config",
    "Defaults",
    "EventConfig",
    "RecipientSettings",
    "find_config",
    "load_config",
    "looks_like_phone",
]

CONFIG_ENV = "NOTIFYKIT_CONFIG"
DEFAULT_CONFIG_FILE = "notifykit.yaml"

MAX_DEPTH = 64
"""How deep mappings and lists may nest in a config file (a real one needs about six levels)."""

MAX_ALIAS_NODES = 10_000
"""How many nodes a config file's aliases may add in all, each ``*alias`` counting the nodes it
stands for (its own aliases expanded). Validation reads every expanded node, so this bounds the
time a small file can cost; a real config shares a few small blocks (senders, defaults) and needs
a few hundred. Nodes written out in the file are not counted: their cost grows with the file."""

_SECTIONS = (
    "version",
    "defaults",
    "accounts",
    "channels",
    "recipients",
    "groups",
    "templates",
    "events",
    "store",
    "server",
    "worker",
    "retry",
    "circuit",
    "console",
    "heartbeats",
    "schedules",
    "paging_limits",
    *SCALEOUT_SECTIONS,
    # alert routing (issue 8): receivers, route, inhibit_rules, time_intervals, escalations
    *ROUTING_SECTIONS,
)


def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``path``, else ``$NOTIFYKIT_CONFIG``, else ``./notifykit.yaml``.

    :raises ConfigNotFoundError: the file does not exist, or none was given and none found.
    """
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise ConfigNotFoundError(f"config file {str(candidate)!r} not found{_INIT_HINT}")
        return candidate
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        candidate = Path(from_env)
        if not candidate.is_file():
            raise ConfigNotFoundError(
                f"config file {from_env!r} (from {CONFIG_ENV}) not found: fix or unset "
                f"{CONFIG_ENV}, or run `notifykit init` to write a commented {DEFAULT_CONFIG_FILE}"
            )
        return candidate
    candidate = Path(DEFAULT_CONFIG_FILE)
    if candidate.is_file():
        return candidate
    raise ConfigNotFoundError(
        f"no notifykit config: run `notifykit init` to write a commented ./{DEFAULT_CONFIG_FILE} "
        f"(it runs as it is with --sandbox), or name yours with --config FILE or {CONFIG_ENV}=FILE"
    )


#: what to do about a config file that is not there (``config.example.yaml`` is only in a source
#: checkout; ``notifykit init`` writes the same commented config from the installed package)
_INIT_HINT = f": check the path, or run `notifykit init` to write a commented {DEFAULT_CONFIG_FILE}"


# -- the validated config -----------------------------------------------------------------------

_NO_FAILOVER = FailoverSettings()


def fallback_chain(
    channels: Mapping[str, ChannelConfig], channel: str, instead: Sequence[str] | None = None
) -> tuple[str, ...]:
    """Every channel a delivery through ``channel`` may fall over to, in the order they are
    tried: its ``fallback`` list (or ``instead``, a receiver's or a step's), each followed by
    its own (depth first, each once; a channel is never its own fallback, so a cycle ends
    where it began)."""
    chain: list[str] = []

    def walk(names: Iterable[str]) -> None:
        for nxt in names:
            if nxt != channel and nxt not in chain and nxt in channels:
                chain.append(nxt)
                walk(channels[nxt].failover.fallback)

    found = channels.get(channel)
    walk(instead if instead is not None else found.failover.fallback if found else ())
    return tuple(chain)


class Defaults(Settings):
    """``defaults:``, what a notification uses when neither the call nor its event says
    otherwise."""

    severity: Severity = setting(
        default="warning", doc="the severity of a notification that gives none"
    )
    channels: tuple[str, ...] = setting(
        default=(), ref="channel", one_or_many=True, min_items=1, doc="the channels it goes through"
    )
    to: tuple[Target, ...] = setting(
        default=(), one_or_many=True, doc="recipients, groups and phone numbers"
    )
    template: str = setting(default="default", doc="the template (notifykit ships default)")


@dataclass(frozen=True)
class AccountConfig:
    """One ``accounts:`` entry: ``settings`` is an instance of its provider's settings class; it
    holds secrets and is kept out of the repr."""

    name: str
    provider: str
    settings: Settings = field(repr=False)
    #: the line of its key in the file (``None`` for a mapping config), for problems found later
    line: int | None = None


@dataclass(frozen=True)
class ChannelConfig:
    """One ``channels:`` entry: a channel type and its settings (an instance of the type's
    settings class)."""

    name: str
    type: str
    settings: Settings = field(repr=False)
    #: the line of its key in the file (``None`` for a mapping config), for problems found later
    line: int | None = None
    #: its ``fallback`` keys (docs/failover.md)
    failover: FailoverSettings = field(default_factory=FailoverSettings)


class EventConfig(Settings):
    """An ``events:`` entry: what a notification of the event uses; what it leaves out (``None``)
    comes from ``defaults:``."""

    name: str = derived(default="")
    template: str | None = setting(default=None, doc="its template")
    channels: tuple[str, ...] | None = setting(
        default=None, ref="channel", one_or_many=True, min_items=1, doc="its channels"
    )
    to: tuple[Target, ...] | None = setting(
        default=None, one_or_many=True, doc="its recipients, groups and phone numbers"
    )
    severity: Severity | None = setting(default=None, doc="its severity")


class RecipientSettings(Settings):
    """A ``recipients:`` entry: a person (names start with a letter or ``_``)."""

    name: str | None = setting(default=None, doc="display name")
    phone: Phone | None = setting(
        default=None, doc="validated and stored in E.164; numbers without a country code are Indian"
    )
    addresses: Mapping[str, str] = setting(
        default_factory=dict, doc="other addresses by kind, for plugin channels (slack: U123)"
    )

    def __post_init__(self) -> None:
        if self.phone is None and not self.addresses:
            raise ValueError("a recipient needs a phone (or addresses)")


@dataclass(frozen=True)
class Config:
    """A validated configuration. Build with :func:`load_config`."""

    source: str
    base_dir: Path
    version: int
    defaults: Defaults
    accounts: Mapping[str, AccountConfig]
    channels: Mapping[str, ChannelConfig]
    recipients: Mapping[str, Recipient]
    groups: Mapping[str, tuple[str, ...]]
    template_dirs: tuple[Path, ...]
    templates: Mapping[str, TemplateSettings]
    events: Mapping[str, EventConfig]
    template_engine: TemplateEngine = field(repr=False)
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    sandbox: bool = False
    #: loaded for a run that sends nothing: ``${VAR}``s may be unset (see :attr:`unset`)
    dry_run: bool = False
    #: things worth fixing that do not stop the config from loading (a secret written inline in
    #: the file, a variable a dry run let unset); never contain a secret's value. ``config
    #: check`` prints them.
    warnings: tuple[ConfigProblem, ...] = ()
    #: a dry run's unset ``${VAR}``s, as the problems a sending run reports: their keys hold
    #: :class:`~notifykit.config.schema.UnsetEnv` (or their default), so a Notifier that may
    #: send refuses this config with them
    unset: tuple[ConfigProblem, ...] = ()
    store: StoreSettings = field(default_factory=StoreSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    #: ``circuit:``, the provider accounts' circuit breaker (docs/circuit-breaker.md)
    circuit: CircuitSettings = field(default_factory=CircuitSettings)
    #: ``console:``, who may use the web console (:mod:`notifykit.config.console`)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    #: per-channel retry settings (channels without a ``retry:`` use :attr:`retry`)
    channel_retry: Mapping[str, RetrySettings] = field(default_factory=dict)
    #: ``limiter:``, ``dispatch:`` and ``celery:`` (:mod:`notifykit.config.scaleout`)
    scaleout: ScaleoutSettings = field(default_factory=ScaleoutSettings)
    #: ``heartbeats:``, the dead-man's switches by name (:mod:`notifykit.config.heartbeats`)
    heartbeats: Mapping[str, HeartbeatSettings] = field(default_factory=dict)
    #: the alert routing (``route:``, ``receivers:``...); for an ``events:``-only config the
    #: implicit tree of :meth:`RoutingConfig.from_events` (``routing.implicit``)
    routing: RoutingConfig | None = field(default=None, repr=False)
    #: the line of each ``templates:`` entry's key (``None`` for a mapping config), for problems
    #: found later (``config check`` rendering the template)
    template_lines: Mapping[str, int | None] = field(default_factory=dict, repr=False)
    #: ``schedules:``, the on-call schedules by name (targets ``schedule:NAME``; docs/oncall.md)
    schedules: Mapping[str, Schedule] = field(default_factory=dict, repr=False)
    #: ``paging_limits:``, pages per person and channel kind in a sliding window (routing.md)
    paging_limits: PagingLimits = field(default_factory=PagingLimits)

    def unknown_event(self, event: str) -> bool:
        """Whether neither ``events:`` nor any route's ``event`` matcher names ``event`` (it then
        goes to the root receiver, which is usually a misspelling)."""
        if event in self.events:
            return False
        return self.routing is None or not self.routing.names_event(event)

    def retry_for(self, channel: str) -> RetrySettings:
        """The retry settings of a channel."""
        return self.channel_retry.get(channel) or self.retry

    def failover(self, channel: str) -> FailoverSettings:
        """The ``fallback`` settings of a channel (none for a channel not configured)."""
        found = self.channels.get(channel)
        return found.failover if found is not None else _NO_FAILOVER

    def fallbacks(self, channel: str, instead: Sequence[str] | None = None) -> tuple[str, ...]:
        """Every channel a delivery through ``channel`` may fall over to, in the order they are
        tried (:func:`fallback_chain`; ``instead``: a receiver's or a step's alternatives)."""
        return fallback_chain(self.channels, channel, instead)

    def template_settings(self, template: str) -> TemplateSettings:
        """The ``templates:`` settings of a template (empty settings if it has none)."""
        return self.templates.get(template) or TemplateSettings()


# -- loading -----------------------------------------------------------------------------------


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    registry: Registry,
    sandbox: bool = False,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate a config file (or an already-loaded mapping, without line numbers).

    :param registry: what the loaded plugins provide (channel types, providers, template dirs).
    :param sandbox: account keys the provider's sandbox replaces need not be set.
    :param dry_run: for a run that sends nothing: no ``${VAR}`` need be set. An unset one is a
        warning, its key reads as ``<unset:${VAR}>`` (:class:`~notifykit.config.schema.UnsetEnv`)
        or its default, and :attr:`Config.unset` keeps the problems a sending run would report
        (a secret key left out of the file is let through the same way).
    :param environ: the environment for ``${VAR}`` substitution (default: ``os.environ``).
    :raises ConfigError: with every problem found, secrets scrubbed from the messages.
    :raises ConfigNotFoundError: the file does not exist.
    """
    environ = os.environ if environ is None else environ
    if isinstance(source, Mapping):
        try:
            text = yaml.safe_dump(dict(source), sort_keys=False, allow_unicode=True)
        except (RecursionError, yaml.YAMLError) as err:
            message = (
                "nested too deeply" if isinstance(err, RecursionError) else f"not YAML data: {err}"
            )
            raise ConfigError([ConfigProblem("<config>", None, "", message)]) from None
        file, base_dir, show_lines = "<config>", Path.cwd(), False
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigNotFoundError(f"config file {str(path)!r} not found{_INIT_HINT}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(
                [ConfigProblem(str(path), None, "", f"cannot read the file: {err}")]
            ) from err
        file, base_dir, show_lines = str(path), path.resolve().parent, True
    ctx = Checker(file=file, environ=environ, show_lines=show_lines, dry_run=dry_run)
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)  # type: ignore[arg-type]
    except LimitError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark is not None and show_lines else None
        raise ConfigError([ConfigProblem(file, line, "", str(err.problem))]) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None and show_lines else None
        message = f"invalid YAML: {err.problem or err}"
        raise ConfigError([ConfigProblem(file, line, "", message)]) from None
    except yaml.YAMLError as err:
        raise ConfigError([ConfigProblem(file, None, "", f"invalid YAML: {err}")]) from None
    try:
        return _Loader(ctx, registry, sandbox, base_dir).load(root)
    except RecursionError:
        # The composer bounds nesting, so this is a backstop (a plugin's type recursing...).
        ctx.problem(None, "", "the config is nested too deeply to validate")
        raise ConfigError(ctx.scrubbed(ctx.problems)) from None


class LimitError(yaml.composer.ComposerError):
    """A config file exceeds one of :class:`BoundedComposer`'s limits."""


class BoundedComposer(yaml.composer.Composer):
    """PyYAML's composer, refusing documents that would take unbounded time or stack to read.

    It counts, for every node, how many nodes it stands for with aliases expanded (memoised per
    node, so counting is linear in the file, not in the expansion), adds that up for every alias,
    and stops at the alias that takes the total past :data:`MAX_ALIAS_NODES`; also at the first
    nesting past :data:`MAX_DEPTH`, and at any alias used inside the node it names (which no
    config can mean, and which merges would follow forever).
    """

    max_depth = MAX_DEPTH
    max_alias_nodes = MAX_ALIAS_NODES

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}
        self._alias_nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[attr-defined]  # the Parser's, in the Loader
        mark = cast("yaml.error.Mark | None", event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise LimitError(
                    None,
                    None,
                    f"alias *{event.anchor} is used inside the node &{event.anchor} it refers to "
                    "(a recursive alias, which would never end when merged or expanded)",
                    mark,
                )
            target = super().compose_node(parent, index)
            self._alias_nodes += self._sizes.get(id(target), 1)
            if self._alias_nodes > self.max_alias_nodes:
                raise LimitError(
                    None,
                    None,
                    f"the aliases up to *{event.anchor} stand for more than "
                    f"{self.max_alias_nodes:,} nodes once expanded (merge keys << and aliases "
                    "nested in aliases multiply; the limit for a config file): write the values "
                    "out, or use fewer nested aliases",
                    mark,
                )
            assert target is not None
            return target
        if self._depth >= self.max_depth:
            raise LimitError(
                None,
                None,
                f"mappings and lists nest more than {self.max_depth} levels deep here (the limit "
                "for a config file)",
                mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.add(anchor)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)
        size = 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                size += self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes.get(id(item), 1) for item in node.value)
        self._sizes[id(node)] = size
        assert node is not None  # None only at the end of the stream, never for a node
        return node


class _BoundedLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    BoundedComposer,
    yaml.constructor.SafeConstructor,
    yaml.resolver.Resolver,
):
    """``yaml.SafeLoader`` with :class:`BoundedComposer` (only ``compose`` is used)."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        BoundedComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


class _Loader:
    def __init__(self, ctx: Checker, registry: Registry, sandbox: bool, base_dir: Path) -> None:
        self.ctx = ctx
        self.registry = registry
        self.sandbox = sandbox
        self.base_dir = base_dir
        self.nodes: dict[str, yaml.Node] = {}
        self.version = 1
        self.defaults = Defaults()
        self.defaults_given = False
        self.accounts: dict[str, AccountConfig] = {}
        self.channels: dict[str, ChannelConfig] = {}
        self.channel_retry_nodes: dict[str, yaml.Node] = {}
        self.recipients: dict[str, Recipient] = {}
        self.group_members: dict[str, list[tuple[str, yaml.Node]]] = {}
        self.group_nodes: dict[str, yaml.Node] = {}
        self.template_dirs: list[Path] = []
        self.templates: dict[str, TemplateSettings] = {}
        self.template_nodes: dict[str, yaml.Node] = {}
        self.events: dict[str, EventConfig] = {}
        self.event_nodes: dict[str, yaml.Node] = {}
        self.channel_account_nodes: dict[str, yaml.Node] = {}
        self.names: dict[str, set[str]] = {}

    # -- sections ---------------------------------------------------------------------------

    def load(self, root: yaml.Node | None) -> Config:
        ctx = self.ctx
        if root is None:
            ctx.problem(None, "", "the file is empty")
            raise ConfigError(ctx.scrubbed(ctx.problems))
        if not isinstance(root, yaml.MappingNode):
            ctx.problem(root, "", f"expected a mapping of sections, got {describe(root)}")
            raise ConfigError(ctx.scrubbed(ctx.problems))
        for key, key_node, value_node in mapping_items(root, "", ctx):
            if key not in _SECTIONS:
                hint = did_you_mean(key, _SECTIONS)
                ctx.problem(
                    key_node, key, f"unknown section {key!r}{hint}; allowed: {', '.join(_SECTIONS)}"
                )
                continue
            self.nodes[key] = value_node
        if "version" in self.nodes:
            version = convert(self.nodes["version"], int, "version", ctx, min=1, max=1)
            self.version = version if version is not INVALID else 1
        self._accounts()
        self._channels()
        self._recipients()
        self._groups()
        self._templates()
        self._events()
        self._defaults()
        self._delivery_sections()
        self.scaleout = load_scaleout(self.nodes, self.store, self.ctx)
        self.paging_limits = load_paging_limits(
            self.nodes.get("paging_limits"),
            {t.kind for t in self.registry.channel_types.values()},
            self.recipients,
            self.ctx,
        )
        schedules_read: Mapping[str, Any] = {}
        if "schedules" in self.nodes:  # the engine (and zoneinfo) only for a config with some
            from notifykit.config.schedules import read_schedules

            schedules_read = read_schedules(self.nodes["schedules"], self.ctx)
        self._check_references()
        groups = self._expand_groups()
        routing = self._routing()
        schedules = self._schedules(schedules_read, routing)
        engine = self._template_engine()
        if engine is not None:
            self._check_templates(engine)
            if routing is not None:
                self._check_routing_templates(engine, routing)
        if ctx.problems:
            ctx.problems.sort(key=lambda p: (p.line is None, p.line or 0))
            raise ConfigError(ctx.scrubbed(ctx.problems))
        assert engine is not None
        return Config(
            source=ctx.file,
            base_dir=self.base_dir,
            version=self.version,
            defaults=self.defaults,
            accounts=self.accounts,
            channels=self.channels,
            recipients=self.recipients,
            groups=groups,
            template_dirs=tuple(self.template_dirs),
            templates=self.templates,
            events=self.events,
            template_engine=engine,
            secrets=frozenset(ctx.secrets),
            sandbox=self.sandbox,
            dry_run=ctx.dry_run,
            warnings=tuple(sorted(ctx.warnings, key=lambda p: (p.line is None, p.line or 0))),
            unset=tuple(sorted(ctx.unset, key=lambda p: (p.line is None, p.line or 0))),
            store=self.store,
            server=self.server,
            worker=self.worker,
            retry=self.retry,
            circuit=self.circuit,
            console=self.console,
            channel_retry=self.channel_retry,
            scaleout=self.scaleout,
            heartbeats=self.heartbeats,
            routing=routing,
            template_lines={name: ctx.line(node) for name, node in self.template_nodes.items()},
            schedules=schedules,
            paging_limits=self.paging_limits,
        )

    def _named_mapping(self, section: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The entries of a ``name: {...}`` section, names checked."""
        return named_items(self.nodes.get(section), section, self.ctx)

    def _kind_key(
        self, node: yaml.Node, path: str, key: str, known: Mapping[str, Any], what: str
    ) -> tuple[str | None, yaml.Node]:
        """Read the ``type:``/``provider:`` key of a channel or account entry."""
        if not isinstance(node, yaml.MappingNode):
            self.ctx.problem(node, path, f"expected a mapping, got {describe(node)}")
            return None, node
        for k, _key_node, value_node in mapping_items(node, path, Checker("", {})):
            if k != key:
                continue
            value = self.ctx.text(value_node, join(path, key))
            if value is INVALID:
                return None, node
            if value not in known:
                hint = did_you_mean(value, known)
                installed = ", ".join(sorted(known)) or "none"
                self.ctx.problem(
                    value_node,
                    join(path, key),
                    f"unknown {what} {value!r}{hint}; installed: {installed} "
                    "(is its plugin installed, or disabled by NOTIFYKIT_DISABLE_PLUGINS?)",
                )
                return None, node
            return value, node
        self.ctx.problem(node, join(path, key), f"missing required key {key!r}")
        return None, node

    def _accounts(self) -> None:
        for name, key_node, node in self._named_mapping("accounts"):
            path = join("accounts", name)
            provider_name, node = self._kind_key(
                node, path, "provider", self.registry.providers, "provider"
            )
            if provider_name is None:
                continue
            provider = self.registry.providers[provider_name]
            lenient = provider.sandbox_keys if self.sandbox and provider.sandbox else frozenset()
            settings = convert(
                node,
                provider.settings,
                path,
                self.ctx,
                lenient=lenient,
                ignore=frozenset({"provider"}),
            )
            if settings is not INVALID:
                self.accounts[name] = AccountConfig(
                    name, provider_name, settings, line=self.ctx.line(key_node)
                )
            else:
                self.names.setdefault("account", set()).add(name)

    def _channels(self) -> None:
        for name, key_node, node in self._named_mapping("channels"):
            path = join("channels", name)
            self.names.setdefault("channel", set()).add(name)
            type_name, node = self._kind_key(
                node, path, "type", self.registry.channel_types, "channel type"
            )
            if type_name is None:
                continue
            channel_type = self.registry.channel_types[type_name]
            # keys a channel type's sandbox replaces (a webhook's url and secret) need not be set
            sandboxed = self.sandbox and channel_type.sandbox is not None
            # The type's keys and the core's fallback keys share the mapping: an unknown key is
            # one problem naming both.
            parts = convert_parts(
                node,
                (channel_type.settings, FailoverSettings),
                path,
                self.ctx,
                lenient=channel_type.sandbox_keys if sandboxed else frozenset(),
                ignore=frozenset({"type", "retry"}),
            )
            retry_node = _find_key(node, "retry")
            if retry_node is not None:
                self.channel_retry_nodes[name] = retry_node
            if parts is INVALID:
                continue
            settings, failover = parts
            if name in failover.fallback:
                self.ctx.problem(
                    _find_key(node, "fallback"),
                    join(path, "fallback"),
                    f"channel {name!r} names itself as its fallback; name another channel",
                )
            self.channels[name] = ChannelConfig(
                name, type_name, settings, line=self.ctx.line(key_node), failover=failover
            )
            if channel_type.provider is not None:
                account_node = _find_key(node, "account")
                if account_node is not None:
                    self.channel_account_nodes[name] = account_node

    def _delivery_sections(self) -> None:
        """``store:``, ``server:``, ``worker:``, ``retry:``, each channel's ``retry:`` and
        ``circuit:``."""
        self.store = load_store(self.nodes.get("store"), "store", self.ctx)
        self.server = load_server(self.nodes.get("server"), "server", self.ctx)
        self.worker = load_worker(self.nodes.get("worker"), "worker", self.ctx)
        self.console = load_console(self.nodes.get("console"), "console", self.ctx)
        self.heartbeats = load_heartbeats(self.nodes.get("heartbeats"), self.ctx)
        self.retry = load_retry(self.nodes.get("retry"), "retry", self.ctx, RetrySettings())
        self.circuit = load_circuit(self.nodes.get("circuit"), "circuit", self.ctx)
        self.channel_retry = {
            name: load_retry(node, join(join("channels", name), "retry"), self.ctx, self.retry)
            for name, node in self.channel_retry_nodes.items()
        }

    def _recipients(self) -> None:
        for name, _key_node, node in self._named_mapping("recipients"):
            path = join("recipients", name)
            self.names.setdefault("recipient or group", set()).add(name)
            self.names.setdefault("recipient", set()).add(name)
            value = convert(node, RecipientSettings, path, self.ctx)
            if value is INVALID:
                continue
            self.recipients[name] = Recipient(
                name=name,
                phone=value.phone,
                display_name=value.name,
                addresses=dict(value.addresses),
            )

    def _groups(self) -> None:
        for name, key_node, node in self._named_mapping("groups"):
            path = join("groups", name)
            if name in self.names.get("recipient or group", set()):
                self.ctx.problem(
                    key_node, path, f"{name!r} is both a recipient and a group; rename one"
                )
                continue
            self.names.setdefault("recipient or group", set()).add(name)
            self.group_nodes[name] = key_node
            if not isinstance(node, yaml.SequenceNode) or not node.value:
                self.ctx.problem(
                    node, path, f"expected a non-empty list of members, got {describe(node)}"
                )
                continue
            members = []
            for index, item in enumerate(node.value):
                member = convert(item, Target, f"{path}[{index}]", self.ctx)
                if member is not INVALID:
                    members.append((member, item))
            self.group_members[name] = members

    def _templates(self) -> None:
        node = self.nodes.get("templates")
        if node is None:
            self.template_dirs = [self.base_dir / "templates"]
            self._implicit_template_dir = True
            return
        self._implicit_template_dir = False
        if not isinstance(node, yaml.MappingNode):
            self.ctx.problem(node, "templates", f"expected a mapping, got {describe(node)}")
            return
        directory_given = False
        for name, key_node, value_node in mapping_items(node, "templates", self.ctx):
            path = join("templates", name)
            if name == "directory":
                directory_given = True
                dirs = convert(
                    value_node, tuple[str, ...], path, self.ctx, one_or_many=True, min_items=1
                )
                if dirs is INVALID:
                    continue
                for entry in dirs:
                    directory = (self.base_dir / Path(entry).expanduser()).resolve()
                    if not directory.is_dir():
                        self.ctx.problem(
                            value_node, path, f"template directory {str(directory)!r} not found"
                        )
                    self.template_dirs.append(directory)
                continue
            if check_name(key_node, path, self.ctx) is INVALID:
                continue
            # The keys a template entry may have are the plugins' (register_template_settings).
            parts = convert_parts(value_node, self.registry.template_settings, path, self.ctx)
            if parts is INVALID:
                continue
            self.templates[name] = TemplateSettings(parts)
            self.template_nodes[name] = key_node
        if not directory_given:
            self.template_dirs = [self.base_dir / "templates"]
            self._implicit_template_dir = True

    def _events(self) -> None:
        for name, _key_node, node in self._named_mapping("events"):
            value = convert(node, EventConfig, join("events", name), self.ctx)
            if value is INVALID:
                continue
            self.events[name] = dataclasses.replace(value, name=name)
            self.event_nodes[name] = node

    def _defaults(self) -> None:
        node = self.nodes.get("defaults")
        if node is None:
            return
        self.defaults_given = True
        value = convert(node, Defaults, "defaults", self.ctx)
        if value is not INVALID:
            self.defaults = value

    # -- cross-checks -----------------------------------------------------------------------

    def _check_references(self) -> None:
        defined = {
            "account": set(self.accounts) | self.names.get("account", set()),
            "channel": self.names.get("channel", set()),
            "recipient or group": self.names.get("recipient or group", set()),
            "recipient": self.names.get("recipient", set()),
            "schedule": _keys(self.nodes.get("schedules")),
        }
        for ref in self.ctx.references:
            names = defined.get(ref.kind)
            if names is None or ref.name in names:
                continue
            hint = did_you_mean(ref.name, names)
            section = {
                "account": "accounts",
                "channel": "channels",
                "recipient": "recipients",
                "schedule": "schedules",
            }.get(ref.kind, "recipients or groups")
            self.ctx.problems.append(
                ConfigProblem(
                    self.ctx.file,
                    ref.line,
                    ref.path,
                    f"no {ref.kind} named {ref.name!r} in {section}{hint}",
                )
            )
        # A channel of a provider's type must use an account of that provider.
        for name, channel in self.channels.items():
            channel_type = self.registry.channel_types[channel.type]
            account_name = channel.settings.get("account")
            account = self.accounts.get(account_name) if account_name else None
            if channel_type.provider is None or account is None:
                continue
            if account.provider != channel_type.provider:
                self.ctx.problem(
                    self.channel_account_nodes.get(name),
                    join(join("channels", name), "account"),
                    f"account {account_name!r} is a {account.provider!r} account, but channel "
                    f"type {channel.type!r} needs a {channel_type.provider!r} account",
                )

    def _expand_groups(self) -> dict[str, tuple[str, ...]]:
        """Groups as tuples of recipient names or phone numbers, nested groups flattened."""
        expanded: dict[str, tuple[str, ...]] = {}
        reported: set[str] = set()

        def expand(name: str, stack: tuple[str, ...]) -> list[str]:
            if name in expanded:
                return list(expanded[name])
            result: list[str] = []
            for member, _node in self.group_members.get(name, []):
                if member in stack or member == name:
                    if name not in reported:
                        reported.add(name)
                        cycle = " -> ".join(
                            [*stack, name, member][stack.index(member) if member in stack else 0 :]
                        )
                        self.ctx.problem(
                            self.group_nodes.get(name),
                            join("groups", name),
                            f"groups include each other in a cycle: {cycle}",
                        )
                    continue
                if member in self.group_members:
                    members = expand(member, (*stack, name))
                else:
                    members = [member]
                result.extend(m for m in members if m not in result)
            expanded[name] = tuple(result)
            return result

        for name in self.group_members:
            expand(name, ())
        return expanded

    def _template_engine(self) -> TemplateEngine | None:
        from notifykit.text.templates import TemplateEngine

        try:
            return TemplateEngine(
                [d for d in self.template_dirs if d.is_dir()],
                plugin_paths=self.registry.template_dirs,
                filters=self.registry.template_filters,
                globals=self.registry.template_globals,
            )
        except Exception as err:  # a plugin's filter or directory is broken
            self.ctx.problem(None, "templates", f"cannot build the template engine: {err}")
            return None

    def _check_templates(self, engine: TemplateEngine) -> None:
        """Every event's template exists in the variant each of its channels renders, and every
        ``templates:`` entry names an existing template."""
        available = engine.list_templates()
        for name, template_node in self.template_nodes.items():
            prefix = name + "."
            if not any(t.startswith(prefix) for t in available):
                self.ctx.problem(
                    template_node,
                    join("templates", name),
                    f"no template files named {name}.*.j2 in the template directories"
                    + did_you_mean(name, {t.split(".")[0] for t in available}),
                )
        checks: list[tuple[str, tuple[str, ...], yaml.Node | None, str]] = []
        node: yaml.Node | None
        for name, event in self.events.items():
            template = event.template or self.defaults.template
            channels = event.channels if event.channels is not None else self.defaults.channels
            where = "template" if event.template else "channels"
            node = _find_key(self.event_nodes[name], where) or self.event_nodes[name]
            checks.append((template, channels, node, join(join("events", name), where)))
        if self.defaults_given and self.defaults.channels:
            node = _find_key(self.nodes["defaults"], "template") or self.nodes["defaults"]
            checks.append((self.defaults.template, self.defaults.channels, node, "defaults"))
        compiled: set[str] = set()
        for template, channels, node, path in checks:
            self._check_variants(engine, template, channels, node, path, compiled)

    def _check_variants(
        self,
        engine: TemplateEngine,
        template: str,
        channels: Iterable[str],
        node: yaml.Node | None,
        path: str,
        compiled: set[str],
        whose: str = "",
        instead: Sequence[str] | None = None,
    ) -> None:
        """``template`` has the variant each of ``channels`` renders (and each channel they
        may fall over to: ``instead``, a receiver's or a step's alternatives, else their own),
        and it compiles; ``whose`` says in a problem whose template it is."""
        used: dict[str, str] = {}
        for channel_name in channels:
            used.setdefault(channel_name, "")
            for fallback in fallback_chain(self.channels, channel_name, instead):
                used.setdefault(fallback, f", a fallback of {channel_name!r}")
        for channel_name, how in used.items():
            channel = self.channels.get(channel_name)
            if channel is None:
                continue
            suffix = self.registry.channel_types[channel.type].template_suffix
            if suffix is None:
                continue
            name = f"{template}.{suffix}"
            if engine.exists(name):
                self._compile(engine, name, node, path, compiled)
                continue
            self.ctx.problem(
                node,
                path,
                f"template {template!r}{whose} has no {suffix!r} variant ({name}.j2), which "
                f"channel {channel_name!r} ({channel.type}{how}) renders",
            )

    def _compile(
        self,
        engine: TemplateEngine,
        name: str,
        node: yaml.Node | None,
        path: str,
        compiled: set[str],
    ) -> None:
        """Compile a template the config uses now (it stays in the engine's cache), so a syntax
        error is a config problem at load time rather than a failure at the first alert."""
        if name in compiled:
            return
        compiled.add(name)
        import jinja2

        file_name = engine.resolve(name)
        try:
            engine.environment.get_template(file_name)
        except jinja2.TemplateSyntaxError as err:
            self.ctx.problem(
                node,
                path,
                f"template {name!r} ({engine.locate(name)}, line {err.lineno}) has a syntax "
                f"error: {err.message}",
            )
        except RecursionError:
            # Nothing is evaluated while compiling (no constant folding), but a deeply nested
            # expression still recurses in Jinja's parser.
            self.ctx.problem(
                node,
                path,
                f"template {name!r} ({engine.locate(name)}) nests too deeply to compile; "
                "split its expressions up",
            )

    # -- alert routing (issue 8) --------------------------------------------------------------
    # Kept in its own region: other sections are added to the loader in parallel.

    def _routing(self) -> RoutingConfig | None:
        """The routing sections (``None`` only when they have problems, recorded in ctx)."""
        targets = self.names.get("recipient or group", set())
        if not any(name in self.nodes for name in ROUTING_SECTIONS):
            # Back compatibility: each event's channels/to become an implicit route. Its timers
            # send every alert (repeat_interval 0s, no dedup): an events:-only config keeps
            # sending what it sent before (OTPs, reports), dedup is opted into with route:.
            # Built from the model alone: the loader of the routing sections is not imported.
            from notifykit.routing.model import RoutingConfig
            from notifykit.routing.tree import DEFAULT_SETTINGS

            settings = dataclasses.replace(DEFAULT_SETTINGS, repeat_interval=0.0)
            return RoutingConfig.from_events(self.events, self.defaults, settings=settings)
        from notifykit.routing.config import load_routing

        return load_routing(
            self.nodes,
            self.ctx,
            channels=self.names.get("channel", set()),
            check_target=lambda name: name in targets,
            target_names=targets,
            schedules=_keys(self.nodes.get("schedules")),
        )

    def _schedules(
        self, read: Mapping[str, Any], routing: RoutingConfig | None
    ) -> dict[str, Schedule]:
        """``schedules:``, each layer's ``restrict`` looked up in the routing's time intervals."""
        if not read:
            return {}
        from notifykit.config.schedules import build_schedules

        intervals = routing.time_intervals if routing is not None else None
        names = _keys(self.nodes.get("time_intervals"))
        if routing is None and "time_intervals" not in self.nodes:
            intervals = {}  # no routing sections with problems: there are no intervals at all
        return build_schedules(read, self.ctx, intervals, names)

    def _check_routing_templates(self, engine: TemplateEngine, routing: RoutingConfig) -> None:
        """Each receiver's template (or the default one) has the variant each channel it (or its
        escalation's steps) sends through renders."""
        compiled: set[str] = set()
        for receiver in routing.receivers.values():
            if routing.implicit:
                continue  # the events: checks above cover these
            template = receiver.template or self.defaults.template
            uses: list[tuple[tuple[str, ...], str, tuple[str, ...] | None]] = [
                (receiver.channels, receiver.path, receiver.fallback)
            ]
            policy = routing.escalation_of(receiver)
            if policy is not None:
                uses += [
                    (step.channels, f"escalations.{policy.name}.steps[{i}]", step.fallback)
                    for i, step in enumerate(policy.steps)
                ]
            node = self._routing_node(receiver.path)
            whose = f" (of receiver {receiver.name!r})"
            for channels, path, instead in uses:
                self._check_variants(
                    engine, template, channels, node, path, compiled, whose, instead
                )

    def _routing_node(self, path: str) -> yaml.Node | None:
        node: yaml.Node | None = self.nodes.get(path.split(".", 1)[0])
        for part in path.split(".")[1:]:
            node = _find_key(node, part) if node is not None else None
        return node


def _keys(node: yaml.Node | None) -> set[str]:
    """The keys of a mapping section, read quietly (its own reader reports its problems)."""
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {
        key.value
        for key, _value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(key.value, str)
    }


def _find_key(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node  # type: ignore[no-any-return]
    return None


def channel_type_of(config: Config, registry: Registry, channel: str) -> ChannelType:
    """The :class:`ChannelType` of a configured channel."""
    return registry.channel_types[config.channels[channel].type]
