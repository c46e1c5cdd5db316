"""The client's own transport (urllib3): proxies and CA bundles from the environment, the form on
the wire, the headers, each failure class, and ``session=`` still going through requests.

Everything crosses a real socket: the simulator, or a raw-socket server playing a proxy, a TLS
server with the test certificate, or a server that answers nothing.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
import requests.adapters
from hypothesis import given
from hypothesis import strategies as st

from notifykit_exotel import (
    ExotelClient,
    ExotelConnectionError,
    InsufficientParametersError,
    RetryPolicy,
)
from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.transport import encode_form_body, environ_proxy
from tests.exotel.rawserver import CERT, RawRequest, answer, raw_server

SID = "ACsim"  # as in conftest.py
TOKEN = "sim-token-s3cr3t"
TO = "+919876543210"
SMS = {"SMSMessage": {"Sid": "s1", "To": TO, "Status": "queued"}}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without any proxy or CA setting of the machine running the tests."""
    for name in PROXY_VARIABLES + CA_VARIABLES + ("REQUEST_METHOD",):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def _client(base_url: str, **kwargs: object) -> ExotelClient:
    return ExotelClient(
        SID, TOKEN, base_url=base_url, rate_limit=None, retry=RetryPolicy.none(), **kwargs
    )  # type: ignore[arg-type]


def _send(client: ExotelClient, body: str = "hello") -> object:
    return client.send_sms("NKALRT", TO, body)


# -- proxies ----------------------------------------------------------------------------------


def test_all_proxy_is_used_when_the_scheme_has_none_and_no_proxy_cidr_bypasses_it(
    env: pytest.MonkeyPatch,
) -> None:
    with ExotelSimulator(sid=SID, token=TOKEN) as target, raw_server(answer(200, SMS)) as proxy:
        env.setenv("ALL_PROXY", proxy.base_url)
        with _client(target.base_url) as client:
            _send(client)
        [seen] = proxy.requests
        # a proxy gets the absolute form, so it knows where to forward
        assert seen.target == f"{target.base_url}/v1/Accounts/{SID}/Sms/send.json"
        assert target.requests == []

        env.setenv("NO_PROXY", "10.0.0.0/8, 127.0.0.0/8")
        with _client(target.base_url) as client:
            _send(client)
        assert len(proxy.requests) == 1 and len(target.requests) == 1


def test_a_proxy_without_a_scheme_is_http_and_its_credentials_go_as_proxy_authorization(
    env: pytest.MonkeyPatch,
) -> None:
    with raw_server(answer(200, SMS)) as proxy:
        env.setenv("HTTP_PROXY", f"us%40er:p%3Ass@127.0.0.1:{proxy.port}")
        with _client("http://127.0.0.1:9") as client:
            _send(client)
        [seen] = proxy.requests
    expected = base64.b64encode(b"us@er:p:ss").decode()
    assert seen.headers["proxy-authorization"] == f"Basic {expected}"
    assert seen.headers["authorization"].startswith("Basic ")  # Exotel's own, for the target


def test_a_proxy_that_refuses_the_tunnel_means_nothing_was_sent(env: pytest.MonkeyPatch) -> None:
    """An https:// base through a proxy is a CONNECT tunnel; a proxy answering 407 to the
    CONNECT never forwarded a byte to Exotel, so the POST is provably unsent (and retried)."""
    refused = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    with raw_server(refused) as proxy:
        env.setenv("HTTPS_PROXY", proxy.base_url)
        sleeps: list[float] = []
        policy = RetryPolicy(max_retries=1, initial_delay=0.0, sleep=sleeps.append)
        with ExotelClient(SID, TOKEN, rate_limit=None, retry=policy) as client:
            with pytest.raises(ExotelConnectionError) as info:
                _send(client)
        assert [r.method for r in proxy.requests] == ["CONNECT", "CONNECT"]
        assert proxy.requests[0].target == "api.exotel.com:443"
    assert not info.value.maybe_sent
    assert info.value.failure_class == "transient"
    assert sleeps == [0.0]  # retried once: a refused tunnel is a refused connection
    assert "407" in str(info.value)


def test_a_socks_proxy_without_pysocks_is_refused_before_sending(
    env: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    if importlib.util.find_spec("socks") is not None:
        pytest.skip("PySocks is installed here")
    with raw_server(answer(200, SMS)) as proxy:
        env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{proxy.port}")
        with _client("http://127.0.0.1:9") as client:
            with pytest.raises(InsufficientParametersError, match="PySocks"):
                _send(client)
        assert proxy.requests == []


ENVIRONMENTS = [
    {},
    {"HTTP_PROXY": "http://p:1"},
    {"http_proxy": "p:2"},
    {"HTTPS_PROXY": "http://p:3", "HTTP_PROXY": "http://p:4"},
    {"ALL_PROXY": "http://p:5"},
    {"ALL_PROXY": "http://p:5", "NO_PROXY": "*"},
    {"HTTP_PROXY": "http://p:6", "NO_PROXY": "127.0.0.1"},
    {"HTTP_PROXY": "http://p:6", "no_proxy": "127.0.0.0/8"},
    {"HTTP_PROXY": "http://p:6", "NO_PROXY": "10.0.0.0/8"},
    {"HTTPS_PROXY": "http://p:7", "NO_PROXY": "exotel.com"},
    {"HTTPS_PROXY": "http://p:7", "NO_PROXY": ".in.exotel.com"},
    {"HTTPS_PROXY": "http://p:7", "NO_PROXY": "api.in.exotel.com:443"},
    {"HTTPS_PROXY": "http://p:7", "NO_PROXY": "other.example, api.exotel.com"},
    {"HTTPS_PROXY": "http://p:7", "NO_PROXY": "xotel.com"},  # not a domain of api.exotel.com
]
URLS = ["http://127.0.0.1:8080", "https://api.exotel.com", "https://api.in.exotel.com"]


@pytest.mark.parametrize("variables", ENVIRONMENTS, ids=lambda v: ",".join(v) or "none")
@pytest.mark.parametrize("url", URLS)
def test_the_proxy_chosen_is_the_one_requests_would_choose(
    env: pytest.MonkeyPatch, variables: dict[str, str], url: str
) -> None:
    import requests.utils

    for name, value in variables.items():
        env.setenv(name, value)
    proxies = requests.utils.get_environ_proxies(url)
    expected = requests.utils.select_proxy(url, proxies)
    if expected is not None and "://" not in expected:
        expected = f"http://{expected}"  # requests prepends the scheme when it connects
    assert environ_proxy(url) == expected


def test_the_environment_is_read_once_at_the_first_request(env: pytest.MonkeyPatch) -> None:
    with ExotelSimulator(sid=SID, token=TOKEN) as target, raw_server(answer(200, SMS)) as proxy:
        with _client(target.base_url) as client:
            _send(client)  # direct: no proxy in the environment yet
            env.setenv("HTTP_PROXY", proxy.base_url)
            _send(client)
        assert len(target.requests) == 2 and proxy.requests == []


# -- TLS verification ---------------------------------------------------------------------------


@pytest.mark.parametrize("variable", CA_VARIABLES)
def test_a_ca_bundle_from_the_environment_is_trusted(
    env: pytest.MonkeyPatch, variable: str
) -> None:
    with raw_server(answer(200, SMS), tls=True) as server:
        env.setenv(variable, str(CERT))
        with _client(server.base_url) as client:
            assert _send(client).sid == "s1"  # type: ignore[attr-defined]
        assert len(server.requests) == 1


def test_a_ca_directory_is_trusted_too(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ssl

    # OpenSSL looks certificates up by subject hash: <hash>.0 in the directory.
    subject_hash = _subject_hash(CERT)
    (tmp_path / f"{subject_hash}.0").write_bytes(CERT.read_bytes())
    with raw_server(answer(200, SMS), tls=True) as server:
        env.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
        with _client(server.base_url) as client:
            _send(client)
        assert len(server.requests) == 1
    assert ssl.OPENSSL_VERSION  # the directory form is OpenSSL's


def _subject_hash(cert: Path) -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["openssl", "x509", "-noout", "-subject_hash", "-in", str(cert)],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no openssl command to compute the subject hash")
    return out.stdout.strip()


def test_without_a_bundle_certifi_decides_and_rejects_the_test_certificate(
    env: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_retries=1, initial_delay=0.0, sleep=sleeps.append)
    with raw_server(answer(200, SMS), tls=True) as server:
        with ExotelClient(
            SID, TOKEN, base_url=server.base_url, rate_limit=None, retry=policy
        ) as client:
            with pytest.raises(ExotelConnectionError) as info:
                _send(client)
        assert server.requests == []  # the handshake failed: nothing was written
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert not info.value.maybe_sent
    assert sleeps == [0.0]  # provably unsent, so even the POST is retried


# -- each failure class -------------------------------------------------------------------------


def test_a_name_that_does_not_resolve_means_nothing_was_sent(env: pytest.MonkeyPatch) -> None:
    import urllib3.exceptions

    with ExotelClient(
        SID,
        TOKEN,
        base_url="https://exotel-test.invalid",
        rate_limit=None,
        retry=RetryPolicy.none(),
        timeout=(2.0, 2.0),
    ) as client:
        with pytest.raises(ExotelConnectionError) as info:
            _send(client)
    assert not info.value.maybe_sent
    assert info.value.failure_class == "transient"
    assert isinstance(info.value.__cause__, urllib3.exceptions.NameResolutionError)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{}", "IncompleteRead"),
        (b"garbage, not HTTP\r\n\r\n", "BadStatusLine"),
        (b"", "RemoteDisconnected"),
    ],
    ids=["cut-short", "not-http", "closed-unanswered"],
)
def test_a_garbled_answer_to_a_post_may_have_been_sent(reply: bytes, message: str) -> None:
    with raw_server(reply) as server, _client(server.base_url) as client:
        with pytest.raises(ExotelConnectionError) as info:
            _send(client)
        assert len(server.requests) == 1
    assert info.value.maybe_sent and info.value.failure_class == "ambiguous"
    assert message in str(info.value)


def test_a_garbled_answer_to_a_get_is_retried() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_retries=2, initial_delay=0.0, sleep=sleeps.append)
    with raw_server(b"garbage\r\n\r\n") as server:
        with ExotelClient(SID, TOKEN, base_url=server.base_url, rate_limit=None, retry=policy) as c:
            with pytest.raises(ExotelConnectionError) as info:
                c.sms_details("f" * 32)
        assert len(server.requests) == 3
    assert not info.value.maybe_sent and info.value.failure_class == "transient"


# -- what goes on the wire -----------------------------------------------------------------------


def test_the_headers_and_the_form_on_the_wire(sim: ExotelSimulator) -> None:
    seen: list[RawRequest] = []

    def handler(request: RawRequest) -> bytes:
        seen.append(request)
        return answer(200, SMS)

    body = "ALERT db1 & db2 are down: 100% = ₹0, naïve + ünïcödé ~ (a/b)?"
    with raw_server(handler) as server, _client(server.base_url) as client:
        client.send_sms("NKALRT", TO, body, custom_field="k=v;x")
    [request] = seen
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("notifykit-exotel/")
    assert "python-urllib3/" in request.headers["user-agent"]
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{SID}:{TOKEN}".encode()
    ).decode("ascii")
    assert int(request.headers["content-length"]) == len(request.body)
    expected = urlencode([("From", "NKALRT"), ("To", TO), ("Body", body), ("CustomField", "k=v;x")])
    assert request.body == expected.encode("ascii")
    # and the simulator reads back exactly what was given
    with _client(sim.base_url) as client:
        client.send_sms("NKALRT", TO, body)
    assert sim.requests[-1].form["Body"] == [body]


def test_the_header_block_and_a_small_body_go_in_one_write() -> None:
    """urllib3 writes them apart (two system calls, two wake-ups of the server); the client's
    connections write them together, as http.client does."""
    first_reads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            first_reads.append(conn.recv(65536))
            conn.sendall(answer(200, SMS))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with _client(f"http://127.0.0.1:{port}") as client:
            _send(client, "one write")
    finally:
        thread.join(5)
        listener.close()
    [data] = first_reads
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"POST ")
    assert body.endswith(b"Body=one+write")


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
        ),
        max_size=6,
    )
)
def test_the_form_body_is_exactly_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert encode_form_body(pairs) == urlencode(pairs, doseq=True)


def test_get_parameters_are_encoded_as_requests_encoded_them(sim: ExotelSimulator) -> None:
    with _client(sim.base_url) as client:
        list(client.list_calls(status=["completed", "busy"], duration="gte:10s;lte:45s"))
    target = sim.requests[-1]
    assert target.query == {
        "Status": ["completed,busy"],
        "Duration": ["gte:10s;lte:45s"],
        "PageSize": ["100"],
    }


# -- lifecycle and session= -----------------------------------------------------------------------


def test_a_closed_client_opens_a_new_pool_when_used_again(sim: ExotelSimulator) -> None:
    client = _client(sim.base_url)
    _send(client)
    client.close()
    _send(client)
    client.close()
    client.close()  # twice is harmless
    assert len(sim.requests) == 2


def test_a_given_session_is_used_through_requests_with_its_adapters_and_headers(
    sim: ExotelSimulator,
) -> None:
    sent: list[str] = []

    class Counting(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
            sent.append(request.method or "")
            return super().send(request, **kwargs)  # type: ignore[arg-type]

    session = requests.Session()
    session.trust_env = False
    session.mount("http://", Counting())
    session.headers["X-Mine"] = "kept"
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, session=session) as client:
        _send(client)
    assert sent == ["POST"]
    headers = sim.requests[-1].headers
    assert headers.get("X-Mine") == "kept"
    assert headers.get("User-Agent", "").startswith("python-requests/")  # the session's own
    session.get(sim.base_url + "/", timeout=5)  # the client left it open
    session.close()


def test_the_client_own_transport_honours_json_charsets() -> None:
    text = json.dumps({"SMSMessage": {"Sid": "s1", "Body": "héllo"}}, ensure_ascii=False)
    latin = answer(200, text.encode("latin-1"), content_type="application/json; charset=latin-1")
    with raw_server(latin) as server, _client(server.base_url) as client:
        assert _send(client).body == "héllo"  # type: ignore[attr-defined]


def test_no_secret_in_the_transport_repr(sim: ExotelSimulator) -> None:
    with _client(sim.base_url) as client:
        _send(client)
        shown = repr(client._transport) + repr(client)
    assert TOKEN not in shown
    assert base64.b64encode(f"{SID}:{TOKEN}".encode()).decode() not in shown


def test_the_proxy_password_is_in_no_error_cause_or_attribute(env: pytest.MonkeyPatch) -> None:
    """A proxy's credentials are a secret too: an unreachable proxy's error, its cause chain and
    the transport's ``proxy`` show none of them."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    password = "pr0xy%2Fpa55"  # written URL-quoted, as in a real proxy variable
    env.setenv("HTTP_PROXY", f"http://ops:{password}@127.0.0.1:{port}")
    with _client("http://127.0.0.1:9") as client:
        with pytest.raises(ExotelConnectionError) as info:
            _send(client)
        attribute = str(client._transport.proxy)  # type: ignore[attr-defined]
    assert not info.value.maybe_sent  # the proxy refused the connection: nothing was sent
    shown = [str(info.value), repr(info.value), attribute]
    cause: BaseException | None = info.value.__cause__
    while cause is not None:
        shown += [str(cause), repr(cause), *map(repr, cause.args)]
        cause = cause.__cause__
    for secret in (password, "pr0xy/pa55", base64.b64encode(b"ops:pr0xy/pa55").decode()):
        assert not any(secret in text for text in shown), (secret, shown)
    assert attribute == f"http://***@127.0.0.1:{port}"
