"""moto's DynamoDB-compatible server, one request at a time, with HTTP/1.1 keep-alive.

The benchmark's store server (bench/, scripts/bench.sh). Like scripts/moto_serial.py (the
tests' server), requests are serialised so conditional writes are atomic per item as in real
DynamoDB. Unlike it, the handler speaks HTTP/1.1 and keeps connections open: werkzeug's
development server defaults to HTTP/1.0, which closes every connection after one answer, so
each store call would pay a new TCP connection that real DynamoDB (keep-alive TLS) does not.
Same flags and start-up banner as `moto_server -H HOST -p PORT`.
"""

import argparse
import selectors
import socket
import threading
import types

import werkzeug.serving

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class KeepAliveHandler(MotoRequestHandler):
    """HTTP/1.1 with keep-alive. werkzeug (2.1 and later) sends `Connection: close` on every
    answer, since http.server cannot drain an unread request body before the next request
    line; moto reads every DynamoDB request body whole (they carry Content-Length), so here the
    connection can stay open: the header is dropped, and http.server keeps reading requests
    from the connection while the client does not ask to close it."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # http.server writes the status line, headers and body in separate sends: with Nagle's
        # algorithm on a kept-alive connection each answer would wait for the client's delayed
        # ACK (40 ms), as it never does on a connection closed after one answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_header(self, keyword, value):
        if keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)


class _NoDrain:
    """After each answer werkzeug drains whatever the client sent next (it assumes the
    connection is closing); on a kept-alive connection that is the next request, and the read
    blocks. Nothing is left to drain here (bodies are read whole), so the drain finds nothing."""

    def register(self, *_args, **_kwargs):
        pass

    def select(self, timeout=None):
        return []

    def close(self):
        pass


# Only werkzeug.serving's drain uses its `selectors` (checked on werkzeug 3.1).
werkzeug.serving.selectors = types.SimpleNamespace(
    DefaultSelector=_NoDrain, EVENT_READ=selectors.EVENT_READ
)


def serialised(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
        with lock:
            # moto builds whole responses, so the body is complete when the lock is released.
            return list(app(environ, start_response))

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        serialised(app),
        threaded=True,
        request_handler=KeepAliveHandler,
    )


if __name__ == "__main__":
    main()
