"""``HealthServer``: ``/healthz`` and ``/metrics`` over HTTP, from threads of the node's process.

``http.server``'s ``ThreadingHTTPServer``: one daemon thread accepts, one more per request, so a
scrape never runs on the node's event loop and a scraper that stalls holds only its own thread.
Each ``/healthz`` opens the OMS read-only on an event loop of its own (``asyncio.run`` in the
request's thread) and builds ``status --json``'s object with ``core.oms.status_report``; each
``/metrics`` asks ``DeskCollector`` through a ``CollectorRegistry`` of this server's own (not
prometheus-client's global one: two nodes in one process, or tests, never share it).

Requests are logged to the node's log, never printed.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from core.config import AppConfig, parse_listen
from core.errors import ConfigError, one_line
from core.monitor.loop_lag import LoopLag
from core.monitor.metrics import DeskCollector
from core.oms import OmsError, WriterStats
from core.oms.status_report import read_status, to_json

_log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HealthServer:
    """Serves ``[health] listen`` once ``start``-ed; ``stop`` closes it.

    Raises (``start``)
    ------------------
    ConfigError
        ``health.listen`` cannot be served: the port is in use, the address is not this
        machine's, permission denied (one line naming the field).
    """

    def __init__(
        self,
        config: AppConfig,
        database: str,
        *,
        writer_stats: Callable[[], WriterStats],
        loop_lag: LoopLag | None = None,
    ) -> None:
        self.listen = config.health.listen
        self._host, self._port = parse_listen(self.listen)
        self._database = database
        self._stale_s = config.console.stale_after_secs
        self._down_s = config.console.down_after_secs
        self.registry = CollectorRegistry()
        self.registry.register(
            DeskCollector(database, writer_stats=writer_stats, loop_lag=loop_lag)
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port served (the one asked for, or the one given for port 0)."""
        return self._port if self._server is None else self._server.server_address[1]

    def start(self) -> None:
        """Bind and serve in a daemon thread (returns at once)."""
        try:
            self._server = _Server((self._host, self._port), self._handler())
        except OSError as error:
            raise ConfigError(f"health.listen: cannot serve {self.listen}: {_why(error)}") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )
        self._thread.start()
        _log.info("health endpoint on http://%s:%d/healthz and /metrics", self._host, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket. Blocks for up to one poll of the accept loop
        (0.5 s): call it from a worker thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def healthz(self) -> tuple[int, dict]:
        """The status code and body of ``/healthz``: 200 while nothing is DOWN, else 503."""
        try:
            report = asyncio.run(
                read_status(
                    self._database,
                    now_ns=time.time_ns(),
                    stale_after_s=self._stale_s,
                    down_after_s=self._down_s,
                    in_node=True,
                )
            )
        except OmsError as error:
            return 503, {"error": one_line(error)}
        return (503 if report.health.anything_down else 200), to_json(report)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.partition("?")[0]
                if path == "/healthz":
                    code, body = server.healthz()
                    self._answer(code, "application/json", json.dumps(body).encode())
                elif path == "/metrics":
                    try:
                        payload = generate_latest(server.registry)
                    except Exception as error:  # a failed read: the scrape fails, loudly
                        _log.error("metrics: %s", one_line(error))
                        self._answer(500, "text/plain", f"{one_line(error)}\n".encode())
                        return
                    self._answer(200, CONTENT_TYPE_LATEST, payload)
                else:
                    self._answer(404, "text/plain", b"/healthz or /metrics\n")

            def _answer(self, code: int, content_type: str, payload: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                _log.debug("health endpoint: " + format, *args)  # never stderr

        return Handler


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is already in use (another node, or another program)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "the address is not one of this machine's"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return error.strerror or one_line(error)
