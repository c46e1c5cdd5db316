"""Inhibit rules: a firing alert mutes others, with Alertmanager's semantics.

::

    inhibit_rules:
      - source_matchers: ['event="host.down"']
        target_matchers: ['severity=~"warning|error"']
        equal: [host]

A *target* (an alert matching ``target_matchers``) is muted while at least one firing *source* (an
alert matching ``source_matchers``) has the same value for every ``equal`` label (a missing label is
empty, so two alerts without ``host`` are equal on it). An alert matching both sides cannot be
inhibited by alerts that also match both sides, so no alert inhibits itself and a group of alike
alerts does not silence itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from notifykit.routing.alert import Alert
from notifykit.routing.matchers import Matcher, matches_all

__all__ = ["InhibitRule", "Inhibition", "inhibited_by"]


@dataclass(frozen=True)
class InhibitRule:
    """One ``inhibit_rules`` entry; ``path`` is where it is in the config."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    path: str = "inhibit_rules[0]"

    def inhibiting_source(self, target: Alert, firing: Iterable[Alert]) -> Alert | None:
        """The first firing alert that mutes ``target`` under this rule, or ``None``."""
        labels = target.label_set
        if not matches_all(self.target_matchers, labels):
            return None
        # Alertmanager: if the target matches the source side too, sources that also match
        # the target side do not count (an alert cannot inhibit itself).
        two_sided = matches_all(self.source_matchers, labels)
        for source in firing:
            if source.resolved:
                continue
            source_labels = source.label_set
            if not matches_all(self.source_matchers, source_labels):
                continue
            if any(source_labels.get(n, "") != labels.get(n, "") for n in self.equal):
                continue
            if two_sided and matches_all(self.target_matchers, source_labels):
                continue
            return source
        return None


@dataclass(frozen=True)
class Inhibition:
    """Why an alert is muted: the rule and the firing alert that matched it."""

    rule: InhibitRule
    source: Alert

    @property
    def reason(self) -> str:
        return f"inhibited by {self.source.key_for()} ({self.rule.path})"


def inhibited_by(
    rules: Iterable[InhibitRule], target: Alert, firing: Iterable[Alert]
) -> Inhibition | None:
    """The first rule (in config order) and source alert that mute ``target``, or ``None``.

    ``firing`` is every alert currently open (the caller's state: the ledger); resolved ones are
    skipped, and ``target`` itself may be among them.
    """
    pool = list(firing)
    for rule in rules:
        source = rule.inhibiting_source(target, pool)
        if source is not None:
            return Inhibition(rule, source)
    return None
