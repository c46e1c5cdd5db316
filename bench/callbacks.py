"""``python -m bench.callbacks KIND CONFIG``: the status app of ``notifykit serve`` on one server,
for the callbacks scenario: ``embedded`` (today's, waitress) or ``wsgiref`` (the standard
library's threaded server, as ``notifykit serve`` ran until issue 19). Prints its URL on stdout,
serves until SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _OldServer(ThreadingMixIn, WSGIServer):
    """The old ``notifykit serve``: a thread per connection, no timeout, HTTP/1.0."""

    daemon_threads = True
    request_queue_size = 128


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(kind: str, config: str) -> None:
    from notifykit import Notifier
    from notifykit.server import StatusApp, StatusServer

    logging.disable(logging.CRITICAL)  # rejected callbacks are expected, not news
    kit = Notifier.from_config(config)
    kit.ledger.counts()  # opened before the first request, as serve does
    if kind == "embedded":
        server = StatusServer(kit, "127.0.0.1", 0)
        url, serve, stop = server.url, server.serve_forever, server.shutdown
    else:
        old = make_server(
            "127.0.0.1", 0, StatusApp(kit), server_class=_OldServer, handler_class=_Quiet
        )
        url = f"http://127.0.0.1:{old.server_address[1]}"
        serve, stop = old.serve_forever, old.shutdown
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop).start())
    print(url, flush=True)
    serve()
    kit.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
