"""How the control API is served: gunicorn's gevent worker, answering in the one error shape.

gevent, because a view that waits (a follower of a run's log, `DELETE /deployments/<name>` until
the agent has stopped the server) then holds a greenlet and a socket instead of one of a few
threads: 100 followers cost 100 greenlets, and `/health` still answers at once. gunicorn patches
the standard library when a worker starts, so the views keep their plain time.sleep / sqlite3 /
subprocess code. The catch of any event loop: CPU-bound work in a view holds the worker until it
is done; the other workers keep accepting meanwhile.

gunicorn itself answers what it cannot parse (a request line over 8190 bytes, headers too
large, a malformed request) with an HTML page; `ApiWorker` answers it as every other error
(service/errors.py: error_body), so a client mistake never leaves the document's shape.
"""
from __future__ import annotations

import json
import uuid

from flask import g
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from ..errors import error_body

# What a client did wrong at the protocol level: status, reason phrase, the part at fault.
PROTOCOL_ERRORS = {
    http_errors.LimitRequestLine: (414, "URI Too Long", "path"),
    http_errors.LimitRequestHeaders: (431, "Request Header Fields Too Large", "headers"),
    http_errors.ExpectationFailed: (417, "Expectation Failed", "headers"),
}
# gunicorn's own failures and an application's bad response headers are not the client's.
NOT_THE_CLIENTS = (http_errors.ConfigurationProblem, http_errors.InvalidResponseHeader,
                   http_errors.InvalidResponseHeaderName)


def protocol_error(exc: Exception) -> tuple[int, str, str | None] | None:
    """(status, reason, field) for a request gunicorn could not parse; None if not the client's."""
    if not isinstance(exc, http_errors.ParseException) or isinstance(exc, NOT_THE_CLIENTS):
        return None
    for kind, answer in PROTOCOL_ERRORS.items():
        if isinstance(exc, kind):
            return answer
    return 400, "Bad Request", None


class ApiWorker(GeventWorker):
    """gunicorn's gevent worker; a request it cannot parse is answered in the JSON error shape."""

    def handle_error(self, req, client, addr, exc):
        answer = protocol_error(exc)
        if answer is None:
            return super().handle_error(req, client, addr, exc)
        status, reason, field = answer
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        request_id = str(uuid.uuid4())
        with self.wsgi.app_context():
            g.request_id = request_id
            body = json.dumps(error_body(f"{reason}: {exc}", status, field)).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"x-request-id: {request_id}\r\n\r\n")
        try:
            client.sendall(head.encode("latin-1") + body)
        except OSError:
            self.log.debug("Failed to send error message.")
