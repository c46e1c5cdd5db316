"""The plugin manager factory, and the registry of what plugins provide.

:func:`get_plugin_manager` builds a fresh :class:`pluggy.PluginManager` (there is no global one):
plugins blocked by ``NOTIFYKIT_DISABLE_PLUGINS`` first, then the ``notifykit`` entry-point group,
then the built-in plugins, registered by name through the same ``pm.register`` call so they can be
blocked the same way; then ``check_pending()``, so a misspelled hook implementation fails loudly.

:class:`Registry` calls the ``register_*`` hooks once and keeps the channel types, providers,
template extensions and ``doctor``'s checks, remembering which plugin registered each.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
from pluggy._manager import DistFacade

from notifykit import _dists, hookspecs
from notifykit.channels import ChannelType, Provider
from notifykit.checks import Check
from notifykit.config.settings import Settings, keys_of
from notifykit.errors import PluginError
from notifykit.model import Delivery, DeliveryState, Notification

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "Hooks",
    "PluginInfo",
    "Registry",
    "get_plugin_manager",
    "known_plugin_names",
]

ENTRY_POINT_GROUP = "notifykit"
DISABLE_ENV = "NOTIFYKIT_DISABLE_PLUGINS"

logger = logging.getLogger("notifykit")

#: Built-in plugins: (name, module). Registered after entry-point plugins, by name.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("console", "notifykit.channels.console"),
    ("india", "notifykit.channels.india"),
)


def disabled_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The plugin names listed (comma-separated) in ``NOTIFYKIT_DISABLE_PLUGINS``."""
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def get_plugin_manager(
    *,
    load_entrypoints: bool = True,
    disabled: Iterable[str] | None = None,
    plugins: Sequence[object] = (),
) -> pluggy.PluginManager:
    """A new plugin manager with notifykit's hook specs and its plugins loaded.

    :param load_entrypoints: load plugins from the ``notifykit`` entry-point group (installed
        packages, including ``notifykit_exotel``); tests turn it off for a hermetic manager.
    :param disabled: plugin names to block (entry-point names such as ``exotel``, or built-in
        names such as ``console``); by default those in ``NOTIFYKIT_DISABLE_PLUGINS``.
    :param plugins: extra plugin objects (modules, classes or instances) to register, after the
        built-ins.
    :raises PluginError: a plugin failed to import, or implements a hook that does not exist.
    """
    pm = pluggy.PluginManager("notifykit")
    pm.add_hookspecs(hookspecs)
    blocked = disabled_from_env() if disabled is None else list(disabled)
    for name in blocked:
        pm.set_blocked(name)
    if blocked and disabled is None:
        _warn_unknown_disabled(blocked)
    if load_entrypoints:
        try:
            _load_entrypoints(pm)
        except pluggy.PluginValidationError as err:
            raise PluginError(f"plugin {err.plugin!r} is broken: {err}") from err
        except Exception as err:
            raise PluginError(
                f"could not load a notifykit plugin from the {ENTRY_POINT_GROUP!r} entry points: "
                f"{type(err).__name__}: {err} (block it with {DISABLE_ENV}=<name>)"
            ) from err
    try:
        for name, module_name in BUILTIN_PLUGINS:
            if not pm.is_blocked(name):
                pm.register(importlib.import_module(module_name), name)
        for plugin in plugins:
            pm.register(plugin)
    except pluggy.PluginValidationError as err:
        raise PluginError(f"plugin {err.plugin!r} is broken: {err}") from err
    check_plugins(pm)
    return pm


def _load_entrypoints(pm: pluggy.PluginManager) -> None:
    """``pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)``, the same plugins in the same
    order, found by reading the distributions' ``entry_points.txt`` (:mod:`notifykit._dists`)
    instead of through :mod:`importlib.metadata`, whose import is a third of what pluggy's scan
    costs a first dry run; each plugin's distribution is read only if asked for
    (``pm.list_plugin_distinfo()``, ``notifykit plugins``)."""
    found = _dists.entry_points(ENTRY_POINT_GROUP)
    if found is None:  # a path _dists does not read (a zip...): pluggy's own scan
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return
    for entry in found:
        if pm.get_plugin(entry.name) or pm.is_blocked(entry.name):
            continue
        plugin = _load_entry_point(entry.value)
        pm.register(plugin, name=entry.name)
        # what pluggy's scan records, so list_plugin_distinfo() answers as before (the lazy
        # distribution stands in for the importlib.metadata one, made on first use)
        dist: Any = _dists.LazyDistribution(entry.dist_path)
        pm._plugin_distinfo.append((plugin, DistFacade(dist)))


#: importlib.metadata.EntryPoint.pattern: ``module``, ``module:attr.attr``, extras ignored
_ENTRY_POINT = r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$"
#: what the usual ``module`` and ``module:attr`` forms are made of (the pattern's \w, in ASCII)
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _load_entry_point(value: str) -> object:
    """What ``importlib.metadata.EntryPoint(value=value).load()`` returns."""
    module, colon, attr = value.partition(":")
    module, attr = module.rstrip(), attr.strip()
    plain = module and _PLAIN.issuperset(module) and _PLAIN.issuperset(attr)
    if not plain or (colon and not attr):
        # anything else (extras, other word characters, a malformed value): read as
        # importlib.metadata reads it (the pattern compiled only then)
        match = re.match(_ENTRY_POINT, value)
        if match is None:
            raise ValueError(f"{value!r} is not an entry point (module or module:attribute)")
        module, attr = match.group("module"), match.group("attr") or ""
    found: object = importlib.import_module(module)
    for name in filter(None, attr.split(".")):
        found = getattr(found, name)
    return found


_warned_unknown: set[str] = set()


def known_plugin_names() -> list[str]:
    """The names a plugin can be blocked by: the ``notifykit`` entry points, then the built-ins."""
    from importlib.metadata import entry_points

    names = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
    return [*names, *(name for name, _ in BUILTIN_PLUGINS if name not in names)]


def _warn_unknown_disabled(blocked: Iterable[str]) -> None:
    """A name in ``NOTIFYKIT_DISABLE_PLUGINS`` that matches no plugin blocks nothing: say so
    (once per name and process), with the closest known name, instead of silently loading the
    plugin the user meant to block."""
    import difflib

    known = known_plugin_names()
    for name in blocked:
        if name in known or name in _warned_unknown:
            continue
        _warned_unknown.add(name)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        logger.warning(
            "%s names %r, which matches no plugin%s, so it blocks nothing; known plugins: %s",
            DISABLE_ENV,
            name,
            hint,
            ", ".join(known) or "none",
        )


def check_plugins(pm: pluggy.PluginManager) -> None:
    """``pm.check_pending()``, raising :class:`PluginError` naming the offending hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        raise PluginError(f"plugin {err.plugin!r} is broken: {err}") from err


class Hooks:
    """A typed facade over ``pm.hook``, so mypy checks every hook call the core makes."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._hook = pm.hook

    def implemented(self, hook_name: str) -> bool:
        """Whether any plugin implements ``hook_name`` now: the dispatcher skips building a
        hook's arguments per delivery when nothing would receive them."""
        return bool(getattr(self._hook, hook_name).get_hookimpls())

    def before_delivery(self, delivery: Delivery, notification: Notification) -> list[str]:
        results: list[str | None] = self._hook.before_delivery(
            delivery=delivery, notification=notification
        )
        return [r for r in results if r]

    def after_delivery(self, delivery: Delivery, notification: Notification) -> None:
        """Every ``after_delivery`` implementation, each on its own (see :meth:`_observe`)."""
        self._observe("after_delivery", {"delivery": delivery, "notification": notification})

    def after_status_change(
        self, delivery: Delivery, previous: DeliveryState, notification: Notification
    ) -> None:
        """Every ``after_status_change`` implementation, each on its own."""
        self._observe(
            "after_status_change",
            {"delivery": delivery, "previous": previous, "notification": notification},
        )

    def _observe(self, hook_name: str, args: dict[str, Any]) -> None:
        """Call every implementation on its own, in pluggy's order, logging (not raising) what
        one raises: a broken metrics hook must not keep an audit log from seeing the delivery,
        as a plain hook call would (it stops at the first exception)."""
        hook = getattr(self._hook, hook_name)
        impls = hook.get_hookimpls()
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            # Wrappers need pluggy's own call loop; keep it (and its stop-at-first-error).
            try:
                hook(**args)
            except Exception:
                logger.exception("an %s hook failed (ignored)", hook_name)
            return
        for impl in reversed(impls):
            try:
                impl.function(**{name: args[name] for name in impl.argnames})
            except Exception:
                name = impl.plugin_name
                plugin = repr(impl.plugin) if name.isdigit() else name  # unnamed: pluggy uses id()
                logger.exception("an %s hook failed (plugin %s; ignored)", hook_name, plugin)


def _check_settings(owner: str, what: str, cls: object) -> None:
    """A plugin's settings must be a settings class (the old ``{key: Field(...)}`` schemas are
    gone)."""
    if not (isinstance(cls, type) and issubclass(cls, Settings)):
        raise PluginError(
            f"plugin {owner!r} registered {what} with settings {cls!r}: declare them as a class "
            "of notifykit.config.settings.Settings (class MySettings(Settings): key: str = "
            "setting(doc=...)); see docs/plugins.md"
        )


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin, for ``notifykit plugins``."""

    name: str
    version: str | None
    package: str | None
    hooks: tuple[str, ...]
    channel_types: tuple[str, ...]
    providers: tuple[str, ...]
    #: ``notifykit doctor``'s checks it registered
    checks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "package": self.package,
            "hooks": list(self.hooks),
            "channel_types": list(self.channel_types),
            "providers": list(self.providers),
            "checks": list(self.checks),
        }


@dataclass
class Registry:
    """What the loaded plugins provide. Build with :meth:`from_manager`."""

    pm: pluggy.PluginManager
    channel_types: dict[str, ChannelType] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    template_filters: dict[str, Callable[..., Any]] = field(default_factory=dict)
    template_globals: dict[str, Any] = field(default_factory=dict)
    template_dirs: list[Path] = field(default_factory=list)
    #: the classes declaring ``templates.<name>`` keys, in registration order
    template_settings: list[type[Settings]] = field(default_factory=list)
    #: ``notifykit doctor``'s checks, by name, in registration order
    checks: dict[str, Check] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_manager(cls, pm: pluggy.PluginManager) -> Registry:
        """Call every ``register_*`` hook once and collect the results.

        :raises PluginError: two plugins registered the same channel type or provider, or a
            plugin registered something of the wrong type.
        """
        registry = cls(pm)
        registry._collect("register_channel_types", registry._add_channel_type)
        registry._collect("register_providers", registry._add_provider)
        registry._collect("register_template_filters", registry._add_filter)
        registry._collect("register_template_globals", registry._add_global)
        registry._collect("register_template_dirs", registry._add_dir)
        registry._collect("register_template_settings", registry._add_template_setting)
        registry._collect("register_checks", registry._add_check)
        return registry

    def _collect(self, hook_name: str, add: Callable[..., None]) -> None:
        # Each implementation is called on its own so that what it registers can be attributed
        # to its plugin (duplicate errors, `notifykit plugins`). pluggy calls the most recently
        # registered plugin first; iterate in registration order instead, so built-ins and
        # entry-point plugins keep a stable order.
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                continue
            owner = self.pm.get_name(impl.plugin) or repr(impl.plugin)

            def register(*args: Any, _owner: str = owner) -> None:
                add(_owner, *args)

            try:
                impl.function(**dict.fromkeys(impl.argnames, register))
            except PluginError:
                raise
            except Exception as err:
                raise PluginError(
                    f"plugin {owner!r} failed in {hook_name}: {type(err).__name__}: {err}"
                ) from err

    def _add_channel_type(self, owner: str, channel_type: ChannelType) -> None:
        if not isinstance(channel_type, ChannelType):
            raise PluginError(f"plugin {owner!r} registered {channel_type!r}, not a ChannelType")
        _check_settings(owner, f"channel type {channel_type.name!r}", channel_type.settings)
        existing = self.owners.get(("channel_type", channel_type.name))
        if existing is not None:
            raise PluginError(
                f"channel type {channel_type.name!r} is registered twice, by plugin "
                f"{existing!r} and by plugin {owner!r}"
            )
        self.owners[("channel_type", channel_type.name)] = owner
        self.channel_types[channel_type.name] = channel_type

    def _add_provider(self, owner: str, provider: Provider) -> None:
        if not isinstance(provider, Provider):
            raise PluginError(f"plugin {owner!r} registered {provider!r}, not a Provider")
        _check_settings(owner, f"provider {provider.name!r}", provider.settings)
        existing = self.owners.get(("provider", provider.name))
        if existing is not None:
            raise PluginError(
                f"provider {provider.name!r} is registered twice, by plugin {existing!r} and by "
                f"plugin {owner!r}"
            )
        self.owners[("provider", provider.name)] = owner
        self.providers[provider.name] = provider

    def _add_filter(self, owner: str, name: str, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise PluginError(f"plugin {owner!r} registered template filter {name!r}: not callable")
        self.template_filters[name] = function

    def _add_global(self, owner: str, name: str, value: Any) -> None:
        self.template_globals[name] = value

    def _add_dir(self, owner: str, directory: str | Path) -> None:
        self.template_dirs.append(Path(directory))

    @property
    def packages(self) -> frozenset[str]:
        """The top-level packages of the loaded plugins (``notifykit_exotel``...): their loggers
        are notifykit's own, which :class:`~notifykit.NotifyHandler` never turns into pages."""
        names = set()
        for plugin in self.pm.get_plugins():
            module = plugin.__name__ if isinstance(plugin, type(importlib)) else None
            module = module or type(plugin).__module__
            names.add(module.split(".")[0])
        return frozenset(names)

    def _add_template_setting(self, owner: str, cls: type[Settings]) -> None:
        _check_settings(owner, "template settings", cls)
        required = [f.name for f in dataclasses.fields(cls) if _required(f)]
        if required:
            raise PluginError(
                f"plugin {owner!r} registered template settings {cls.__qualname__} with "
                f"required keys ({', '.join(required)}): give every key a default (a template "
                "sets only what it needs)"
            )
        for key in keys_of(cls):
            existing = self.owners.get(("template_setting", key))
            if existing is not None:
                raise PluginError(
                    f"template setting {key!r} is registered twice, by plugin {existing!r} and "
                    f"by plugin {owner!r}"
                )
            self.owners[("template_setting", key)] = owner
        self.template_settings.append(cls)

    def _add_check(self, owner: str, check: Check) -> None:
        if not isinstance(check, Check):
            raise PluginError(f"plugin {owner!r} registered {check!r}, not a Check")
        existing = self.owners.get(("check", check.name))
        if existing is not None:
            raise PluginError(
                f"check {check.name!r} is registered twice, by plugin {existing!r} and by "
                f"plugin {owner!r}"
            )
        self.owners[("check", check.name)] = owner
        self.checks[check.name] = check

    def plugin_infos(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, hooks and what it registered."""
        dists: dict[int, Any] = {
            id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()
        }
        infos: list[PluginInfo] = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked
                continue
            dist = dists.get(id(plugin))
            version = package = None
            if dist is not None:
                package = dist.metadata["Name"]
                version = dist.version
            elif name in dict(BUILTIN_PLUGINS):
                from notifykit import __version__

                package, version = "notifykit (built-in)", __version__
            hooks = tuple(
                sorted(
                    caller.name
                    for caller in self.pm.get_hookcallers(plugin) or []
                    if not caller.name.startswith("_")
                )
            )
            infos.append(
                PluginInfo(
                    name=name,
                    version=version,
                    package=package,
                    hooks=hooks,
                    channel_types=self._owned("channel_type", name),
                    providers=self._owned("provider", name),
                    checks=self._owned("check", name),
                )
            )
        return infos

    def _owned(self, kind: str, owner: str) -> tuple[str, ...]:
        return tuple(sorted(n for (k, n), o in self.owners.items() if k == kind and o == owner))

    def blocked(self) -> list[str]:
        """Names of blocked plugins."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is None]
