"""The live view's HTTP side: the server, its requests, the page (runtime/daemon/view.py is
the observer that feeds it).

    server = ViewServer(("127.0.0.1", 0), view)     # view: a LiveView
    threading.Thread(target=server.serve_forever).start()

The standard library's ThreadingHTTPServer, one thread a client, with those threads named
after the view, tracked and joined by it; a client that goes away is counted as a
disconnect, anything else a request raises is a failure the view logs and counts. Nothing
is written to stderr: the status line lives there.
"""
from __future__ import annotations

import json
import logging
import math
import socket
import socketserver
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .view import LiveView

logger = logging.getLogger(__name__)

CLIENT_TIMEOUT_S = 5.0        # a client that takes no bytes this long is dropped
STATUS_REFRESH_MS = 500       # the page polls /status.json this often
BOUNDARY = b"spikebox-frame"


class ViewServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose client threads are named, tracked and joined by the view."""
    daemon_threads = True        # a client that never ends cannot keep the process alive ...
    block_on_close = False       # ... and close() joins them itself, each with a time limit

    def __init__(self, address, view: LiveView):
        self.view = view
        self.lock = threading.Lock()
        self.clients: dict[threading.Thread, socket.socket] = {}
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer's own asks the resolver for the host's name (socket.getfqdn), which can
        # take seconds on a robot with no DNS, and start() runs before the control loop does.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name=f"{self.view.thread_prefix}-client", daemon=True)
        with self.lock:
            self.clients[t] = request
        t.start()

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.clients.pop(threading.current_thread(), None)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            self.view.count("disconnects")
        else:
            self.view.failed(f"serving {client_address[0]}:{client_address[1]}")


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer
    server_version = "spikebox-view"
    timeout = CLIENT_TIMEOUT_S

    def do_GET(self):
        view = self.server.view
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                view.count("pages")
                self._reply("text/html; charset=utf-8", view.page())
            elif path == "/status.json":
                view.count("status")
                self._reply("application/json", json.dumps(view.status()).encode())
            elif path == "/stream.mjpg":
                view.stream(self)
            else:
                view.count("not_found")
                self.send_error(HTTPStatus.NOT_FOUND,
                                "the view serves /, /stream.mjpg and /status.json")
        except (ConnectionError, TimeoutError):
            view.count("disconnects")        # the client went away: its business, not ours
        except OSError:
            # close() shut the socket under a stream: the end of the run, not a failure.
            if not view.closing:
                raise
            view.count("disconnects")
        self.close_connection = True

    def _reply(self, content_type: str, body: bytes) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):     # not to stderr: the status line lives there
        logger.debug("%s %s", self.address_string(), format % args)


def jsonable(value):
    """JSON's view of the board's figures: numpy scalars as numbers, NaN and inf as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>spikebox view</title>
<style>
body {{ margin: 0; background: #111; color: #ddd; font: 13px monospace; display: flex; }}
#stream {{ display: block; flex: none; width: {width}px; height: {height}px; background: #181818; }}
#side {{ padding: 8px 12px; min-width: 0; }}
#dot {{ display: inline-block; width: 16px; height: 16px; background: #c22; }}
#dot.ok {{ background: #2c2; }}
#status {{ white-space: pre-wrap; overflow-wrap: anywhere; margin: 8px 0; }}
</style></head>
<body>
<img id="stream" src="/stream.mjpg" width="{width}" height="{height}" alt="the robot's camera">
<div id="side"><span id="dot"></span> status <pre id="status">waiting for /status.json</pre></div>
<script>
const dot = document.getElementById("dot"), out = document.getElementById("status");
function shown(v) {{
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(1);
  if (Array.isArray(v)) return v.length ? v.map(shown).join(", ") : "-";
  if (v && typeof v === "object")
    return Object.entries(v).map(([k, x]) => k + " " + shown(x)).join(", ") || "-";
  return v === null ? "-" : String(v);
}}
async function refresh() {{
  try {{
    const r = await fetch("/status.json", {{cache: "no-store"}});
    if (!r.ok) throw new Error("HTTP " + r.status);
    const s = await r.json();
    out.textContent = Object.entries(s).map(([k, v]) => k.padEnd(17) + shown(v)).join("\\n");
    dot.className = "ok";
  }} catch (e) {{
    out.textContent = "no status (" + e + "): has the run ended?";
    dot.className = "";
  }}
}}
refresh();
setInterval(refresh, {refresh_ms});
</script>
</body></html>
"""


def page_html(width_px: int, height_px: int) -> bytes:
    """The page: the stream at the picture's size, the status beside it."""
    return PAGE.format(width=width_px, height=height_px, refresh_ms=STATUS_REFRESH_MS).encode()
