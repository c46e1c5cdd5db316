"""Silences, pure (:mod:`notifykit.routing.silences`): their matchers are the routes' (ANDed,
a missing label is empty, regexes anchored), a silence mutes only between its start and end,
the one ending last names the mute, and ``explain`` says which silence mutes an alert."""

from __future__ import annotations

import pytest

from notifykit.routing.alert import Alert
from notifykit.routing.explain import explain
from notifykit.routing.silences import Silence, SilenceError, parse_silence_matchers, silencing
from tests.routing.test_explain import ISSUE_EXAMPLE, MONDAY_NOON, load_ok

T = MONDAY_NOON.timestamp()


def silence(
    *matchers: str, start: float = T - 60, end: float = T + 3600, id: str = "s1"
) -> Silence:
    return Silence(id, parse_silence_matchers(matchers), start, end, "why", "asha", start)


@pytest.mark.parametrize(
    ("matchers", "labels", "muted"),
    [
        (['service="db"'], {"service": "db"}, True),
        (['service="db"', "host=~db.*"], {"service": "db", "host": "web1"}, False),
        (['{service="db", host=~"db.*"}'], {"service": "db", "host": "db2"}, True),
        (['service=~"d"'], {"service": "db"}, False),  # anchored, as Alertmanager's
        (['service="db"', 'env=""'], {"service": "db"}, True),  # a missing label is empty
        (['event="db.down"', "severity>=error"], {}, True),  # event and severity are labels
    ],
)
def test_a_silence_matches_as_routes_do(matchers, labels, muted):
    alert = Alert("db.down", "critical", labels)
    assert silence(*matchers).mutes(alert, T) is muted


def test_a_silence_mutes_only_from_its_start_until_its_end():
    s = silence('service="db"', start=T, end=T + 60)
    alert = Alert("db.down", "critical", {"service": "db"})
    assert [s.state(t) for t in (T - 1, T, T + 59, T + 60)] == [
        "pending",
        "active",
        "active",
        "expired",
    ]
    assert [s.mutes(alert, t) for t in (T - 1, T, T + 60)] == [False, True, False]


def test_the_silence_ending_last_is_the_one_named():
    alert = Alert("db.down", "critical", {"service": "db"})
    short, long = silence('service="db"', id="a"), silence("service=~d.", end=T + 7200, id="b")
    assert silencing([short, long], alert, T) == long
    assert silencing([short, long], Alert("x", "info", {}), T) is None


def test_a_silence_that_would_mute_everything_is_refused():
    with pytest.raises(SilenceError, match="would mute every alert"):
        parse_silence_matchers(['host=~".*"', 'env!="prod"'])


def test_explain_names_the_silence_and_mutes_every_route():
    config = load_ok(ISSUE_EXAMPLE)
    alert = Alert("db.down", "critical", {"host": "db1", "service": "db"})
    s = silence('service="db"')
    result = explain(config, alert, MONDAY_NOON, silences=[s])
    assert result.receivers == () and result.deliveries == ()
    assert result.silenced_by == s and result.to_dict()["silenced_by"]["id"] == "s1"
    assert all(r["muted"].startswith("silenced by s1 until ") for r in result.routes)
    assert 'silenced by s1: service="db" (notifykit silence expire s1 lifts it)' in result.text()
