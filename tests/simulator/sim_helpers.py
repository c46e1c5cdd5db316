"""Helpers for the simulator tests: a callback receiver, an authenticated session, form builders.

Kept out of conftest.py so test modules can import them by name.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import requests
from notifykit_exotel.simulator import ExotelSimulator

SID = "ACsim"
TOKEN = "sim-token"


@dataclass(frozen=True)
class Received:
    """One callback as the receiver got it."""

    path: str
    content_type: str
    body: bytes

    def fields(self) -> dict[str, Any]:
        """The body decoded by its content type, independently of the simulator's own code."""
        media_type = self.content_type.split(";", 1)[0]
        if media_type == "application/json":
            decoded: dict[str, Any] = json.loads(self.body)
            return decoded
        if media_type == "multipart/form-data":
            head = f"Content-Type: {self.content_type}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                head + self.body
            )
            return {
                str(part.get_param("name", header="content-disposition")): part.get_content()
                for part in message.iter_parts()
            }
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class Receiver:
    """A second HTTP server standing in for the application's StatusCallback endpoint."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._changed:
                    receiver.received.append(
                        Received(self.path, self.headers.get("Content-Type", ""), body)
                    )
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class Api:
    """An authenticated session against the simulator's account URLs."""

    def __init__(self, sim: ExotelSimulator, auth: tuple[str, str] = (SID, TOKEN)) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.trust_env = False  # never route 127.0.0.1 through an environment proxy
        self.session.auth = auth

    def url(self, resource: str) -> str:
        return f"{self.sim.base_url}/v1/Accounts/{self.sim.sid}/{resource}"

    def get(self, resource: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.get(self.url(resource), **kwargs)

    def post(self, resource: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.post(self.url(resource), **kwargs)

    def close(self) -> None:
        self.session.close()


def call_form(**overrides: str) -> dict[str, str]:
    """A valid number-masking connect form, with overrides."""
    form = {"From": "+919876543210", "To": "+919812345678", "CallerId": "08047112345"}
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def rest_error(response: requests.Response) -> dict[str, Any]:
    """The RestException object of an error answer."""
    body: dict[str, Any] = response.json()
    inner: dict[str, Any] = body["RestException"]
    return inner
