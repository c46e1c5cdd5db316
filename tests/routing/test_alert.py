"""The alert model and its key: default event + all labels, stable text, short form with a hash,
what ``ack`` accepts."""

from __future__ import annotations

import pytest

from notifykit.routing import Alert, AlertKey


def test_label_set_adds_event_and_severity() -> None:
    alert = Alert("db.down", "critical", {"host": "db1"})
    assert alert.label_set == {"host": "db1", "event": "db.down", "severity": "critical"}


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        ({}, "db.down"),
        ({"host": "db1"}, "db.down{host=db1}"),
        ({"service": "pg", "host": "db1"}, "db.down{host=db1,service=pg}"),  # sorted
        ({"msg": "two words"}, 'db.down{msg="two words"}'),
        ({"path": "a,b}"}, 'db.down{path="a,b}"}'),
        ({"empty": ""}, 'db.down{empty=""}'),
        ({"my.label": "x"}, 'db.down{"my.label"=x}'),
        ({"url": "https://x.example/a"}, "db.down{url=https://x.example/a}"),
    ],
)
def test_default_key(labels: dict[str, str], key: str) -> None:
    assert Alert("db.down", "warning", labels).key_for().text == key


def test_the_key_ignores_data_and_severity_by_default() -> None:
    a = Alert("db.down", "warning", {"host": "db1"}, {"n": 1})
    b = Alert("db.down", "critical", {"host": "db1"}, {"n": 2})
    assert a.key_for() == b.key_for()
    assert a.key_for(["severity"]) != b.key_for(["severity"])


def test_long_keys_are_shortened_with_a_stable_hash() -> None:
    labels = {f"label{i}": "value" * 3 for i in range(10)}
    key = Alert("db.down", "warning", labels).key_for()
    assert len(key.text) > 80
    assert len(key.short) == 80 and key.short == str(key)
    assert key.short.endswith("~" + key.digest)
    # the hash is of the canonical text, so it is the same in every process and version
    assert key.digest == AlertKey(key.text).digest
    import hashlib

    assert key.digest == hashlib.sha256(key.text.encode()).hexdigest()[:16]
    other = Alert("db.down", "warning", {**labels, "label9": "other"}).key_for()
    assert other.short != key.short


def test_what_ack_accepts() -> None:
    key = AlertKey("db.down{host=db1}")
    assert key.matches("db.down{host=db1}")
    assert key.matches(" db.down{host=db1} ")
    assert key.matches(key.digest[:8])
    assert key.matches(key.digest.upper())
    assert not key.matches(key.digest[:7])  # too short to be safe
    assert not key.matches("db.down{host=db2}")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event": "", "severity": "warning"}, "needs an event name"),
        ({"event": "x", "severity": "fatal"}, "severity 'fatal' is not one of info"),
        ({"event": "x", "severity": "info", "labels": {"event": "y"}}, "pass it as event="),
        ({"event": "x", "severity": "info", "labels": {"severity": "y"}}, "pass it as severity="),
        ({"event": "x", "severity": "info", "labels": {"n": 1}}, "label 'n' must be a string"),
        ({"event": "x", "severity": "info", "labels": {"": "v"}}, "non-empty strings"),
        ({"event": "x", "severity": "info", "key": " "}, "key= must be a non-empty string"),
    ],
)
def test_invalid_alerts(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Alert(**kwargs)


def test_alerts_are_immutable_and_hashable() -> None:
    labels = {"host": "db1"}
    alert = Alert("x", "info", labels)
    labels["host"] = "changed"
    assert alert.labels == {"host": "db1"}
    assert hash(alert) == hash(Alert("x", "info", {"host": "db1"}))
    assert alert.with_labels(rack="r1").labels == {"host": "db1", "rack": "r1"}
