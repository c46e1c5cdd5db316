"""Injected faults and the sliding-window rate limit, observed over real HTTP."""

from __future__ import annotations

import random
import time

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.simulator.support import SID, TOKEN, SessionFactory, call_form, rest_error

NUMBER = "Numbers/+919876543210.json"


class TestFaults:
    def test_status_fault_with_code_and_retry_after(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sim.inject(Fault(status=503, code=35008, message="Service Unavailable; ", retry_after=2))
        response = api.post("Calls/connect.json", data=call_form())
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert rest_error(response) == {
            "Status": 503,
            "Message": "Service Unavailable; ",
            "Code": 35008,
        }
        assert sim.calls == {}  # a faulted request creates nothing
        assert sim.last_request is not None
        assert sim.last_request.status == 503
        # times=1 by default: the next request is served normally.
        assert api.post("Calls/connect.json", data=call_form()).status_code == 200

    def test_default_message_and_no_code(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sim.inject(Fault(status=500))
        response = api.get(NUMBER)
        assert rest_error(response) == {"Status": 500, "Message": "Internal Server Error"}
        assert "Retry-After" not in response.headers

    def test_times_and_method_path_filters(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sim.inject(Fault(status=429, method="POST", path=r"/Sms/send"), times=2)
        assert api.get(NUMBER).status_code == 200  # wrong method and path: untouched
        assert api.post("Calls/connect.json", data=call_form()).status_code == 200
        sms = {"From": "X", "To": "+919876543210", "Body": "b"}
        assert [api.post("Sms/send.json", data=sms).status_code for _ in range(3)] == [
            429,
            429,
            200,
        ]

    def test_non_json_gateway_page(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sim.inject(Fault(non_json=True))
        response = api.get(NUMBER)
        assert response.status_code == 502
        assert response.headers["Content-Type"] == "text/html"
        assert response.text.startswith("<html>")
        assert "502 Bad Gateway" in response.text
        sim.inject(Fault(non_json=True, status=504))
        response = api.get(NUMBER)
        assert response.status_code == 504
        assert "504 Gateway Timeout" in response.text

    def test_drop_closes_without_answering(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sim.inject(Fault(drop=True, path="connect"))
        with pytest.raises(requests.ConnectionError):
            api.post("Calls/connect.json", data=call_form())
        assert sim.calls == {}
        dropped = sim.last_request
        assert dropped is not None
        assert dropped.status == 0
        assert dropped.field("From") == "+919876543210"  # the body was read before hanging up
        # The pool recovers with a fresh connection.
        assert api.get(NUMBER).status_code == 200

    def test_delay_then_normal_answer(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sim.inject(Fault(delay=0.15))
        started = time.monotonic()
        response = api.post("Calls/connect.json", data=call_form())
        assert time.monotonic() - started >= 0.15
        assert response.status_code == 200
        assert len(sim.calls) == 1  # a delay alone still processes the request

    def test_delay_provokes_a_client_read_timeout(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sim.inject(Fault(delay=30, status=500))
        with pytest.raises(requests.ReadTimeout):
            api.get(NUMBER, timeout=0.1)
        # stop() wakes the sleeping handler instead of waiting the 30 s out.
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 5

    def test_fraction_is_deterministic_for_a_seed(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sim.inject(Fault(status=503), fraction=0.3, seed=7)
        statuses = [api.get(NUMBER).status_code for _ in range(20)]
        rng = random.Random(7)
        expected = [503 if rng.random() < 0.3 else 200 for _ in range(20)]
        assert statuses == expected
        assert 0 < statuses.count(503) < 20
        sim.clear_faults()
        assert api.get(NUMBER).status_code == 200

    def test_inject_argument_checks(self, sim: ExotelSimulator) -> None:
        with pytest.raises(ValueError, match="either"):
            sim.inject(Fault(status=500), times=2, fraction=0.5)
        with pytest.raises(ValueError, match="between"):
            sim.inject(Fault(status=500), fraction=1.5)
        with pytest.raises(ValueError, match="at least"):
            sim.inject(Fault(status=500), times=0)

    def test_reset_forgets_faults(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sim.inject(Fault(status=500), times=5)
        sim.reset()
        assert api.get(NUMBER).status_code == 200


class TestRateLimit:
    @pytest.fixture
    def limited(self) -> ExotelSimulator:
        return ExotelSimulator(sid=SID, token=TOKEN, rate_limit=5, rate_window=60, retry_after=True)

    def test_429_after_the_limit_with_retry_after(
        self, limited: ExotelSimulator, session_for: SessionFactory
    ) -> None:
        with limited:
            api = session_for(limited)
            assert [api.get(NUMBER).status_code for _ in range(5)] == [200] * 5
            response = api.get("SMS/Messages/0123456789abcdef0123456789abcdef.json")
            assert response.status_code == 429
            assert rest_error(response) == {
                "Status": 429,
                "Message": "Too Many Requests",
                "Code": 40403,
            }
            assert 59 <= int(response.headers["Retry-After"]) <= 60
            sms = api.post("Sms/send.json", data={"From": "X", "To": "+919876543210", "Body": "b"})
            assert (sms.status_code, rest_error(sms)["Code"]) == (429, 40402)
            # Voice (and number lookups) answer 429 without the SMS codes.
            post = api.post("Calls/connect.json", data=call_form())
            assert post.status_code == 429
            assert rest_error(post) == {"Status": 429, "Message": "Too Many Requests"}
            assert "Code" not in rest_error(api.get(NUMBER))
            assert limited.calls == {} and limited.messages == {}
            limited.reset()
            assert api.get(NUMBER).status_code == 200

    def test_rejected_requests_do_not_count(
        self, limited: ExotelSimulator, session_for: SessionFactory
    ) -> None:
        with limited:
            api = session_for(limited)
            bad = session_for(limited, auth=(SID, "wrong"))
            assert [bad.get(NUMBER).status_code for _ in range(3)] == [401] * 3
            limited.inject(Fault(status=500), times=3)
            assert [api.get(NUMBER).status_code for _ in range(3)] == [500] * 3
            assert [api.get(NUMBER).status_code for _ in range(5)] == [200] * 5
            assert [api.get(NUMBER).status_code for _ in range(3)] == [429] * 3

    def test_window_slides(self, session_for: SessionFactory) -> None:
        # Drive the limiter's clock by hand so the test neither sleeps nor flakes.
        now = [1000.0]
        with ExotelSimulator(
            rate_limit=2, rate_window=10, retry_after=True, clock=lambda: now[0]
        ) as sim:
            api = session_for(sim)
            assert [api.get(NUMBER).status_code for _ in range(2)] == [200, 200]
            now[0] += 4
            blocked = api.get(NUMBER)
            assert blocked.status_code == 429
            assert blocked.headers["Retry-After"] == "6"
            now[0] += 5.5
            assert api.get(NUMBER).headers["Retry-After"] == "1"
            now[0] += 0.5  # the first two requests are now 10 s old and leave the window
            assert api.get(NUMBER).status_code == 200
            assert api.get(NUMBER).status_code == 200
            assert api.get(NUMBER).status_code == 429

    def test_concurrent_requests_respect_the_limit(self, session_for: SessionFactory) -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ExotelSimulator(rate_limit=10, rate_window=60) as sim:
            apis = [session_for(sim) for _ in range(8)]
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(lambda i: apis[i % 8].get(NUMBER).status_code, range(24)))
        assert statuses.count(200) == 10
        assert statuses.count(429) == 14
        assert len(sim.requests) == 24
