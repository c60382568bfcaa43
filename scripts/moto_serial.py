"""moto's DynamoDB-compatible server with one request at a time.

`moto_server` serves requests on threads without a lock around its backends, so two
conditional writes to the same item can both pass their condition: a lost update that real
DynamoDB (atomic per item) never makes. Serialising requests restores that guarantee, which the
concurrency tests rely on. Same flags and start-up banner as `moto_server -H HOST -p PORT`.
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


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
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
