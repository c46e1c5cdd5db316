"""The performance fast paths keep their behaviour: proxies read once and still honoured, e164=True
still refuses what is not E.164, a dry run builds no HTTP session, the cached DLT pattern, the
one-call ULID and the ids made at once."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from notifykit.india import check_dlt, parse_dlt_pattern
from notifykit.plan import planner
from notifykit_exotel import ExotelClient, RetryPolicy
from notifykit_exotel.errors import InsufficientParametersError
from notifykit_exotel.simulator import ExotelSimulator

SID, TOKEN = "ACfast", "fast-token"
TO = "+919876543210"


def client_for(sim: ExotelSimulator) -> ExotelClient:
    return ExotelClient(
        SID, TOKEN, base_url=sim.base_url, rate_limit=None, retry=RetryPolicy.none()
    )


def test_proxies_are_read_once_when_the_session_is_made_and_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second simulator plays the proxy: it gets the absolute-form request and answers it.
    with (
        ExotelSimulator(sid=SID, token=TOKEN) as target,
        ExotelSimulator(sid=SID, token=TOKEN) as proxy,
    ):
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        monkeypatch.setenv("http_proxy", proxy.base_url)
        with client_for(target) as client:
            client.send_sms("NKALRT", TO, "through the proxy")
            # The environment as it was when the session was made holds for the client's life.
            monkeypatch.delenv("HTTP_PROXY")
            monkeypatch.delenv("http_proxy")
            client.send_sms("NKALRT", TO, "still through the proxy")
        assert len(proxy.requests) == 2 and target.requests == []
        assert proxy.requests[0].form["Body"] == ["through the proxy"]

        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with client_for(target) as client:
            client.send_sms("NKALRT", TO, "direct")
        assert len(proxy.requests) == 2 and len(target.requests) == 1


def test_a_given_session_keeps_its_own_environment_handling() -> None:
    import requests

    with ExotelSimulator(sid=SID, token=TOKEN) as sim:
        session = requests.Session()
        with ExotelClient(SID, TOKEN, base_url=sim.base_url, session=session) as client:
            client.send_sms("NKALRT", TO, "hello")
        assert session.trust_env is True  # not changed behind the caller's back
        session.close()
        assert len(sim.requests) == 1


def test_e164_true_skips_normalisation_but_refuses_what_is_not_e164() -> None:
    with ExotelSimulator(sid=SID, token=TOKEN) as sim, client_for(sim) as client:
        client.send_sms("NKALRT", TO, "ok", e164=True)
        client.send_bulk_sms("NKALRT", [TO, "+919876543211"], "ok", e164=True)
        for bad in ("9876543210", "+91 98765 43210", "", None, "+0123456789"):
            with pytest.raises(InsufficientParametersError, match=r"E\.164") as raised:
                client.send_sms("NKALRT", bad, "no", e164=True)  # type: ignore[arg-type]
            assert "leave e164 out" in str(raised.value)
        with pytest.raises(InsufficientParametersError, match=r"to\[1\]"):
            client.send_bulk_sms("NKALRT", [TO, "09876543211"], "no", e164=True)
        # without the flag the national form is still normalised, as before
        client.send_sms("NKALRT", "09876543211", "ok")
        assert sim.requests[-1].form["To"] == ["+919876543211"]
        assert len(sim.requests) == 3  # nothing refused went out


def test_a_dry_run_imports_no_http_stack(tmp_path: Path) -> None:
    (tmp_path / "alert.sms.j2").write_text("ALERT {{ host }} is down. -ACME")
    (tmp_path / "notifykit.yaml").write_text(
        "accounts:\n"
        "  main: {provider: exotel, sid: ACx, token: tok, base_url: 'http://127.0.0.1:9'}\n"
        "channels:\n"
        "  sms: {type: exotel-sms, account: main, senders: {default: {from: NKALRT}}}\n"
        "templates: {directory: '.'}\n"
    )
    code = (
        "import sys, notifykit\n"
        "kit = notifykit.Notifier.from_config('notifykit.yaml', dry_run=True)\n"
        "r = kit.send('sms', to='+919876543210', template='alert', data={'host': 'db1'})\n"
        "assert r.deliveries[0].state.value == 'pending', r\n"
        "print(','.join(m for m in ('requests', 'urllib3', 'ssl') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYKIT_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.stdout.strip() == ""


def test_parse_dlt_pattern_is_cached_but_hands_out_fresh_lists() -> None:
    pattern = "ALERT {#var#}: {#var#} is down. -ACME"
    first = parse_dlt_pattern(pattern)
    first.append("changed by the caller")
    assert parse_dlt_pattern(pattern) == ["ALERT ", ": ", " is down. -ACME"]
    assert check_dlt("ALERT high: db1 is down. -ACME", pattern).variables == ("high", "db1")
    with pytest.raises(ValueError, match="next to each other"):
        parse_dlt_pattern("{#var#}{#var#} x")
    with pytest.raises(ValueError, match="next to each other"):  # raised again, not cached
        parse_dlt_pattern("{#var#}{#var#} x")


def _reference_ulid(value: int) -> str:
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(planner._CROCKFORD[digit])
    return "".join(reversed(chars))


def test_new_id_is_the_same_crockford_ulid_as_the_digit_by_digit_encoding() -> None:
    rng = random.Random(9)
    for value in [0, 1, 2**128 - 1, *(rng.getrandbits(128) for _ in range(5000))]:
        assert planner.crockford(value) == _reference_ulid(value)
    first, second = planner.new_id(), planner.new_id()
    assert len(first) == 26 and set(first) <= set(planner._CROCKFORD)
    assert first[:10] <= second[:10]  # the time part sorts


def test_ids_made_at_once_have_the_format_order_and_randomness_of_new_id() -> None:
    before = int(time.time() * 1000)
    ids = planner.new_ids(20_000)
    after = int(time.time() * 1000)
    assert planner.new_ids(0) == []
    assert len(ids) == len(set(ids)) == 20_000
    assert ids == sorted(ids)  # a plan's ids sort in the order of its jobs
    assert all(len(i) == 26 and set(i) <= set(planner._CROCKFORD) for i in ids)
    # one time part, this millisecond's, in the encoding new_id() gives it
    (when,) = {i[:10] for i in ids}
    assert when == planner.crockford(int(when_ms(when)) << 80)[:10]
    assert before <= when_ms(when) <= after
    assert planner.new_id()[:10] >= when  # later ids sort after
    # 16 random digits, each uniform over the 32 (5 bits): 20,000 ids give each digit about
    # 10,000 times in all; far outside 9,000-11,000 is not random
    counts = Counter(c for i in ids for c in i[10:])
    assert set(counts) == set(planner._CROCKFORD)
    assert all(9_000 < n < 11_000 for n in counts.values()), counts


def when_ms(digits: str) -> int:
    value = 0
    for c in digits:
        value = value * 32 + planner._CROCKFORD.index(c)
    return value
