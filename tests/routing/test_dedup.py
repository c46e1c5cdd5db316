"""The group timing decision: group_wait for a new group, group_interval for a changed one,
repeat_interval for an unchanged one; a crash loop of identical alerts is sent once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from notifykit.routing import Alert, RouteSettings
from notifykit.routing.dedup import NotificationLog, content_digest, decide

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
IN_APP = RouteSettings("r")  # group_wait 0s, group_interval 5m, repeat_interval 4h
ALERTMANAGER = RouteSettings("r", group_wait=30, group_interval=300, repeat_interval=4 * 3600)
CRASH = Alert("app.crash", "error", {"host": "web1"})
DIGEST = content_digest([CRASH])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sent(last: float, digest: str = DIGEST) -> NotificationLog:
    return NotificationLog("r", "app.crash{host=web1}", T0, last_sent=at(last), digest=digest)


def test_a_crash_loop_of_30_identical_alerts_sends_once() -> None:
    log: NotificationLog | None = None
    sends = 0
    for i in range(30):
        now = at(i * 0.03)
        decision = decide(log, IN_APP, content_digest([CRASH]), now)
        if decision.action == "send":
            sends += 1
            log = NotificationLog("r", "k", now, last_sent=now, digest=DIGEST)
    assert sends == 1


@pytest.mark.parametrize(
    ("log", "settings", "digest", "now", "action", "due"),
    [
        (None, IN_APP, DIGEST, at(0), "send", at(0)),  # group_wait 0s: at once
        (None, ALERTMANAGER, DIGEST, at(0), "wait", at(30)),
        # a pending group (first seen, not yet sent) keeps its group_wait deadline
        (NotificationLog("r", "k", T0), ALERTMANAGER, DIGEST, at(10), "wait", at(30)),
        (NotificationLog("r", "k", T0), ALERTMANAGER, DIGEST, at(30), "send", at(30)),
        # unchanged: only after repeat_interval
        (sent(0), IN_APP, DIGEST, at(3600), "skip", at(4 * 3600)),
        (sent(0), IN_APP, DIGEST, at(4 * 3600), "send", at(4 * 3600)),
        # changed: again, but not sooner than group_interval after the last message
        (sent(0), IN_APP, "other", at(60), "wait", at(300)),
        (sent(0), IN_APP, "other", at(301), "send", at(301)),
        # repeat_interval 0s: no dedup
        (sent(0), RouteSettings("r", repeat_interval=0), DIGEST, at(1), "send", at(1)),
    ],
)
def test_decisions(
    log: NotificationLog | None,
    settings: RouteSettings,
    digest: str,
    now: datetime,
    action: str,
    due: datetime,
) -> None:
    decision = decide(log, settings, digest, now)
    assert (decision.action, decision.due) == (action, due), decision.reason


def test_the_digest_tracks_membership_severity_and_resolution_not_data() -> None:
    other_host = CRASH.with_labels(host="web2")
    assert content_digest([CRASH, other_host]) == content_digest([other_host, CRASH])
    assert content_digest([CRASH, other_host]) != DIGEST
    assert content_digest([Alert("app.crash", "critical", {"host": "web1"})]) != DIGEST
    resolved = Alert("app.crash", "error", {"host": "web1"}, resolved=True)
    assert content_digest([resolved]) != DIGEST
    assert content_digest([Alert("app.crash", "error", {"host": "web1"}, {"n": 2})]) == DIGEST


def test_reasons_are_readable_and_naive_times_refused() -> None:
    assert decide(sent(0), IN_APP, DIGEST, at(60)).reason.endswith("repeat_interval 4h")
    with pytest.raises(ValueError, match="aware time"):
        decide(None, IN_APP, DIGEST, datetime(2026, 1, 1))
