"""Local stand-ins for a desk's notification channel: a webhook that records what it is sent,
and one that accepts connections and never answers.

``WebhookServer`` is a real HTTP server on 127.0.0.1 (``http.server`` in a thread): apprise's
``json://127.0.0.1:PORT/path`` URL posts its JSON (``title``, ``message``, ``type``) to it as
it would to any webhook. ``HangingServer`` listens and never accepts: the TCP connection is
made (the kernel completes it), the request is written, and no answer ever comes, which is
what a wedged channel looks like to its client.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookServer:
    """Records each JSON POST; use as a context manager."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.received.append(payload)
                    outer.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # nothing on stderr
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "hook", auth: str = "") -> str:
        """The apprise URL of this server (``auth``: ``user:password@``)."""
        return f"json://{auth}127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        with self._lock:
            return [payload.get("title", "") for payload in self.received]

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def __aenter__(self) -> WebhookServer:  # beside an OMS in one ``async with``
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


class HangingServer:
    """Listens and never accepts nor answers; closing it ends its clients' waits."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> HangingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
