"""``paging_limits:``, how often one person may be paged through one kind of channel.

::

    paging_limits:
      call: 6/1h            # at most 6 calls to one person in any hour (a sliding window)
      sms: 30/1h
      overrides:            # per recipient (a name under recipients:), per channel kind
        alice: {call: 10/1h}

The keys are channel *kinds* (the ``kind`` of a channel type: ``sms``, ``call``, ``flow``...),
each value ``N/duration`` (``6/1h``, ``30/15m``). What happens over a limit is said in
docs/routing.md ("Paging limits") and :mod:`notifykit.pipeline.limits`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import yaml

from notifykit.config.schema import Checker, describe, did_you_mean, join, mapping_items
from notifykit.config.settings import parse_duration

__all__ = ["PageLimit", "PagingLimits", "load_paging_limits", "parse_limit"]

_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\S+)\s*")


@dataclass(frozen=True)
class PageLimit:
    """At most ``count`` pages in any ``window`` seconds."""

    count: int
    window: float
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class PagingLimits:
    """The limits by channel kind, and each recipient's overrides of them."""

    kinds: Mapping[str, PageLimit] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, PageLimit]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.kinds or self.overrides)

    def limit(self, recipient: str, kind: str) -> PageLimit | None:
        """The limit of ``recipient`` (a recipient's name, or an address) through ``kind``."""
        own = self.overrides.get(recipient, {})
        return own.get(kind) or self.kinds.get(kind)


def parse_limit(text: str) -> PageLimit | None:
    """``"6/1h"`` as a :class:`PageLimit`; ``None`` when it is not one (a count of at least 1
    and a window longer than zero)."""
    found = _LIMIT.fullmatch(text)
    if found is None:
        return None
    count, window = int(found.group(1)), parse_duration(found.group(2))
    if count < 1 or window is None or window <= 0:
        return None
    return PageLimit(count, window, f"{count}/{found.group(2)}")


def _limits(
    node: yaml.Node, path: str, kinds: Collection[str], ctx: Checker
) -> dict[str, PageLimit]:
    out: dict[str, PageLimit] = {}
    if not isinstance(node, yaml.MappingNode):
        ctx.problem(node, path, f"expected a mapping of channel kinds, got {describe(node)}")
        return out
    for kind, key_node, value_node in mapping_items(node, path, ctx):
        where = join(path, kind)
        if kind not in kinds:
            hint = did_you_mean(kind, kinds)
            ctx.problem(
                key_node,
                where,
                f"unknown channel kind {kind!r}{hint}; known kinds: {', '.join(sorted(kinds))}",
            )
            continue
        text = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
        limit = parse_limit(text) if isinstance(text, str) else None
        if limit is None:
            ctx.problem(
                value_node,
                where,
                f"expected N/duration (6/1h, 30/15m: at least one page in a window longer "
                f"than zero), got {describe(value_node)}",
            )
            continue
        out[kind] = limit
    return out


def load_paging_limits(
    node: yaml.Node | None, kinds: Collection[str], recipients: Collection[str], ctx: Checker
) -> PagingLimits:
    """Read ``paging_limits:``; problems are recorded in ``ctx`` with their line."""
    if node is None:
        return PagingLimits()
    path = "paging_limits"
    if not isinstance(node, yaml.MappingNode):
        ctx.problem(node, path, f"expected a mapping of channel kinds, got {describe(node)}")
        return PagingLimits()
    overrides_node: yaml.Node | None = None
    rest = yaml.MappingNode(node.tag, [], start_mark=node.start_mark, end_mark=node.end_mark)
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "overrides":
            overrides_node = value_node
        else:
            rest.value.append((key_node, value_node))
    limits = _limits(rest, path, kinds, ctx)
    overrides: dict[str, dict[str, PageLimit]] = {}
    if overrides_node is not None:
        opath = join(path, "overrides")
        if not isinstance(overrides_node, yaml.MappingNode):
            ctx.problem(
                overrides_node,
                opath,
                f"expected a mapping of recipients, got {describe(overrides_node)}",
            )
        else:
            for name, key_node, value_node in mapping_items(overrides_node, opath, ctx):
                if name not in recipients:
                    hint = did_you_mean(name, recipients)
                    ctx.problem(key_node, join(opath, name), f"no recipient named {name!r}{hint}")
                    continue
                overrides[name] = _limits(value_node, join(opath, name), kinds, ctx)
    return PagingLimits(limits, overrides)
