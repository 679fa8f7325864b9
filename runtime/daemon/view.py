"""The live view (`spikebox run --view`): what the robot sees and does, served on localhost.

    view = LiveView(port=config.view_port)             # 0: any free port
    summary = Daemon(config, observers=[view]).run()   # view.url: http://127.0.0.1:PORT/

The robot is usually headless, so the daemon serves a small page instead of opening
a window (from elsewhere: `ssh -L 8765:127.0.0.1:8765 robot`, then open the URL):

- `/`             the page: the stream, and the status refreshed from /status.json
- `/stream.mjpg`  multipart/x-mixed-replace JPEGs of the newest frame with the spike
                  raster, the resident and awake experts and the command sent drawn on
                  it (view_draw.py), at most STREAM_FPS a second, to every client
- `/status.json`  the status board's figures (what the status line shows) and the
                  view's own counters

An observer of the Daemon (run.py): `seen` and `command` run in the vision and control
loops and only keep references to the newest; one render thread draws and encodes at
STREAM_FPS while someone watches, and the clients' threads send what it made. Nothing
here can slow or stop the robot: a port that cannot be opened, a picture that fails to
draw, a client that goes away are logged and counted, and the robot goes on.
`stopped()` ends the streams, closes the port and joins every thread of the view.
"""
from __future__ import annotations

import collections
import copy
import json
import logging
import math
import socket
import socketserver
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from .view_draw import RASTER_FRAMES, ViewState, draw_view, view_size_px

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"            # the robot's own loopback: nothing is served to the network
STREAM_FPS = 10.0             # pictures drawn and sent per second, whatever the camera's rate
JPEG_QUALITY = 80
MAX_STREAMS = 8               # more watchers at once are refused (503): each costs the robot
                              # a send of every picture
CLIENT_TIMEOUT_S = 5.0        # a client that takes no bytes this long is dropped
JOIN_TIMEOUT_S = 2.0
STATUS_REFRESH_MS = 500       # the page polls /status.json this often
STATUS_MIN_S = 0.25           # /status.json's figures are new at most this often: the board's
                              # fps is frames over the time since its last snapshot
WHEEL_FULL_SCALE = 2.0        # a wheel bar is full at this times the arbiter's cruise speed
BOUNDARY = b"spikebox-frame"
THREAD_PREFIX = "spikebox-view"


class LiveView:
    """The daemon's observer that serves the live view; see the module docstring."""

    def __init__(self, port: int = 8765, *, host: str = HOST, stream_fps: float = STREAM_FPS,
                 max_streams: int = MAX_STREAMS):
        self.host, self.port, self.period_s = host, port, 1.0 / stream_fps
        self.url: str | None = None           # set once serving
        self.counters = collections.Counter(
            pages=0, status=0, streams=0, parts_sent=0, renders=0, refused_streams=0,
            not_found=0, disconnects=0, errors=0)
        self._counting = threading.Lock()
        self.max_streams = max_streams
        self._stream_slots = threading.BoundedSemaphore(max_streams)
        self._streaming = 0
        # The loops' side: references to the newest, nothing computed.
        self._seen = None
        self._command = None
        self._raster = collections.deque(maxlen=RASTER_FRAMES)
        self._raster_lock = threading.Lock()
        # The server's side.
        self._picture = threading.Condition()
        self._jpeg, self._serial = b"", 0
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._names: tuple[str, ...] = ()
        self._daemon = None
        self._board = None
        self._snapshot, self._snapshot_s = {}, -math.inf
        self._snapshot_lock = threading.Lock()
        self.thread_prefix = THREAD_PREFIX

    # -- the Daemon's side (run.py calls these) ---------------------------------------------
    def start(self, daemon) -> None:
        """Open the port and start serving; a failure is logged and counted, never raised."""
        try:
            self._daemon = daemon
            self._names = tuple(daemon.parts["vision"].names)
            # A board of the view's own over the same loops: a snapshot measures fps since
            # the board's previous one, and the view's polls must not cut the status line's
            # window short (nor the line the view's).
            self._board = copy.copy(daemon.parts["board"])
            server = _Server((self.host, self.port), self)
        except OSError as e:
            self._count("errors")
            logger.error("the live view could not open %s:%d (%s); the robot runs on without "
                         "it. Set view_port to a free port, or 0 for any free one",
                         self.host, self.port, e.strerror or e)
            return
        except Exception:
            self._count("errors")
            logger.exception("the live view could not start; the robot runs on without it")
            return
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}/"
        self.thread_prefix = f"{THREAD_PREFIX}-{port}"   # which view a thread is, in a dump
        self._threads = [self._thread("server", lambda: server.serve_forever(poll_interval=0.1)),
                         self._thread("render", self._render_loop)]
        logger.info("live view on %s", self.url)

    def seen(self, seen) -> None:
        """In the vision loop: keep references, no more."""
        self._seen = seen
        with self._raster_lock:
            self._raster.append((seen.expert_spikes, seen.awake))

    def command(self, command) -> None:
        """In the control loop: keep the reference."""
        self._command = command

    def stopped(self, daemon) -> None:
        self.close()

    def close(self) -> None:
        """End the streams, close the port, join the view's threads (idempotent)."""
        self._closing.set()
        with self._picture:
            self._picture.notify_all()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()                     # serve_forever returns within its poll interval
        with server.lock:
            clients = dict(server.clients)
        for request in clients.values():      # a client blocked in a write fails at once
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in [*clients, *self._threads]:
            t.join(JOIN_TIMEOUT_S)
            if t.is_alive():
                self._count("errors")
                logger.error("the live view's thread %s did not end within %.0f s", t.name,
                             JOIN_TIMEOUT_S)
        server.server_close()

    # -- what is served ---------------------------------------------------------------------
    def stats(self) -> dict:
        with self._counting:
            counters = dict(self.counters)
        return {"url": self.url, "streaming": self._streaming,
                "stream_fps": 1.0 / self.period_s, **counters}

    def status(self) -> dict:
        """The status board's snapshot with the view's own counters under "view"."""
        with self._snapshot_lock:            # many pages polling share one fps window
            now = time.monotonic()
            if self._board is not None and now - self._snapshot_s >= STATUS_MIN_S:
                self._snapshot, self._snapshot_s = self._board.snapshot(), now
            snap = self._snapshot
        return _jsonable({**snap, "view": self.stats()})

    def page(self) -> bytes:
        config = self._daemon.config
        width, height = view_size_px(config.source.frame_size_px, len(self._names))
        return PAGE.format(width=width, height=height, refresh_ms=STATUS_REFRESH_MS).encode()

    def picture(self) -> np.ndarray:
        """The view as it stands now (BGR), drawn from the newest references."""
        daemon = self._daemon
        seen, cmd = self._seen, self._command
        with self._raster_lock:
            rows = list(self._raster)
        names = self._names
        spikes = (np.array([r[0] for r in rows], np.float32) if rows
                  else np.zeros((0, len(names)), np.float32))
        awake = np.array([[n in r[1] for n in names] for r in rows], bool).reshape(-1, len(names))
        resident = daemon.parts["pager"].resident()
        return draw_view(ViewState(
            names=names,
            image=None if seen is None else seen.capture.image,
            frame_id=None if seen is None else seen.capture.frame_id,
            frame_age_ms=None if seen is None else seen.capture.age_ms(daemon.clock()),
            max_frame_age_ms=daemon.config.source.max_frame_age_ms,
            spikes=spikes, awake=awake,
            fired=() if seen is None else seen.fired,
            resident=tuple(n for n in names if n in resident),
            left_mm_s=None if cmd is None else cmd.left_mm_s,
            right_mm_s=None if cmd is None else cmd.right_mm_s,
            reason=None if cmd is None else cmd.reason,
            expert=None if cmd is None else cmd.expert,
            full_scale_mm_s=WHEEL_FULL_SCALE * daemon.config.arbiter.cruise_mm_s,
            frame_size_px=daemon.config.source.frame_size_px))

    # -- the server's threads ---------------------------------------------------------------
    def _render_loop(self) -> None:
        """Draw and encode at STREAM_FPS while someone watches: one picture for every client,
        however many there are. After each picture it rests at least as long as it drew, so
        on a machine too busy for STREAM_FPS the view takes at most half a core."""
        while not self._closing.is_set():
            start = time.monotonic()
            if self._streaming:
                try:
                    ok, jpeg = cv2.imencode(".jpg", self.picture(),
                                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                    if not ok:
                        raise RuntimeError("cv2.imencode refused the picture")
                except Exception:
                    self._failed("drawing the view")
                else:
                    self._count("renders")
                    with self._picture:
                        self._jpeg, self._serial = jpeg.tobytes(), self._serial + 1
                        self._picture.notify_all()
            spent = time.monotonic() - start
            self._closing.wait(max(self.period_s - spent, spent))

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        if not self._stream_slots.acquire(blocking=False):
            self._count("refused_streams")
            handler.send_error(HTTPStatus.SERVICE_UNAVAILABLE,
                               f"{self.max_streams} streams are open; close one")
            return
        try:
            with self._counting:
                self._streaming += 1
                self.counters["streams"] += 1
            handler.send_response(HTTPStatus.OK)
            handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary="
                                + BOUNDARY.decode())
            handler.send_header("Cache-Control", "no-store")
            handler.end_headers()
            with self._picture:
                sent = self._serial           # the next picture: the last may be long stale
            while not self._closing.is_set():
                with self._picture:
                    self._picture.wait_for(lambda: self._serial != sent or self._closing.is_set(),
                                           timeout=1.0)
                    jpeg, serial = self._jpeg, self._serial
                if serial == sent or self._closing.is_set():
                    continue
                handler.wfile.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d"
                                    b"\r\n\r\n%s\r\n" % (BOUNDARY, len(jpeg), jpeg))
                sent = serial
                self._count("parts_sent")
        finally:
            with self._counting:
                self._streaming -= 1
            self._stream_slots.release()

    def _count(self, name: str, n: int = 1) -> None:
        with self._counting:
            self.counters[name] += n

    def _failed(self, what: str) -> None:
        """Count a failure; log the first few in full, then every 100th (a broken picture
        must not flood the robot's log at STREAM_FPS)."""
        self._count("errors")
        n = self.counters["errors"]
        if n <= 3 or n % 100 == 0:
            logger.exception("live view: %s failed (%d failures so far); the robot goes on",
                             what, n)

    def _thread(self, name: str, body) -> threading.Thread:
        def guarded():
            try:
                body()
            except Exception:
                self._failed(f"its {name} thread")
        t = threading.Thread(target=guarded, name=f"{self.thread_prefix}-{name}", daemon=True)
        t.start()
        return t


class _Server(ThreadingHTTPServer):
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
            self.view._count("disconnects")
        else:
            self.view._failed(f"serving {client_address[0]}:{client_address[1]}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "spikebox-view"
    timeout = CLIENT_TIMEOUT_S

    def do_GET(self):
        view = self.server.view
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                view._count("pages")
                self._reply("text/html; charset=utf-8", view.page())
            elif path == "/status.json":
                view._count("status")
                self._reply("application/json", json.dumps(view.status()).encode())
            elif path == "/stream.mjpg":
                view._stream(self)
            else:
                view._count("not_found")
                self.send_error(HTTPStatus.NOT_FOUND,
                                "the view serves /, /stream.mjpg and /status.json")
        except (ConnectionError, TimeoutError):
            view._count("disconnects")        # the client went away: its business, not ours
        except OSError:
            # close() shut the socket under a stream: the end of the run, not a failure.
            if not view._closing.is_set():
                raise
            view._count("disconnects")
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


def _jsonable(value):
    """JSON's view of the board's figures: numpy scalars as numbers, NaN and inf as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
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
