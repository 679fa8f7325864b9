"""The live view (`spikebox run --view`): what the robot sees and does, served on localhost.

    view = LiveView(port=config.view_port, on_serving=print)   # 0: any free port
    summary = Daemon(config, observers=[view]).run()   # prints http://127.0.0.1:PORT/

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
The HTTP side is view_http.py, the picture view_draw.py.
"""
from __future__ import annotations

import collections
import copy
import logging
import math
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Callable

import cv2
import numpy as np

from .view_draw import RASTER_FRAMES, ViewState, draw_view, view_size_px
from .view_http import BOUNDARY, ViewServer, jsonable, page_html

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"            # the robot's own loopback: nothing is served to the network
STREAM_FPS = 10.0             # pictures drawn and sent per second, whatever the camera's rate
JPEG_QUALITY = 80
MAX_STREAMS = 8               # more watchers at once are refused (503): each costs the robot
                              # a send of every picture
JOIN_TIMEOUT_S = 2.0
STATUS_MIN_S = 0.25           # /status.json's figures are new at most this often: the board's
                              # fps is frames over the time since its last snapshot
WHEEL_FULL_SCALE = 2.0        # a wheel bar is full at this times the arbiter's cruise speed
THREAD_PREFIX = "spikebox-view"


class LiveView:
    """The daemon's observer that serves the live view; see the module docstring."""

    def __init__(self, port: int = 8765, *, host: str = HOST, stream_fps: float = STREAM_FPS,
                 max_streams: int = MAX_STREAMS, on_serving: Callable[[str], None] | None = None):
        """on_serving(url): called once the port is open (the CLI prints the URL)."""
        self.host, self.port, self.period_s = host, port, 1.0 / stream_fps
        self.on_serving = on_serving
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
        self._server: ViewServer | None = None
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
            server = ViewServer((self.host, self.port), self)
        except OSError as e:
            self.count("errors")
            logger.error("the live view could not open %s:%d (%s); the robot runs on without "
                         "it. Set view_port to a free port, or 0 for any free one",
                         self.host, self.port, e.strerror or e)
            return
        except Exception:
            self.count("errors")
            logger.exception("the live view could not start; the robot runs on without it")
            return
        self._server = server
        host, port = server.server_address[:2]
        url = f"http://{host}:{port}/"
        self.thread_prefix = f"{THREAD_PREFIX}-{port}"   # which view a thread is, in a dump
        self._threads = [self._thread("server", lambda: server.serve_forever(poll_interval=0.1)),
                         self._thread("render", self._render_loop)]
        logger.info("live view on %s", url)
        if self.on_serving is not None:
            try:
                self.on_serving(url)
            except Exception:
                self.failed("announcing its URL")
        # Last: whoever waits for `url` finds it announced (a test read it between the two).
        self.url = url

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
                self.count("errors")
                logger.error("the live view's thread %s did not end within %.0f s", t.name,
                             JOIN_TIMEOUT_S)
        server.server_close()

    # -- what is served ---------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        return self._closing.is_set()

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
        return jsonable({**snap, "view": self.stats()})

    def page(self) -> bytes:
        config = self._daemon.config
        width, height = view_size_px(config.source.frame_size_px, len(self._names))
        return page_html(width, height)

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
                    self.failed("drawing the view")
                else:
                    self.count("renders")
                    with self._picture:
                        self._jpeg, self._serial = jpeg.tobytes(), self._serial + 1
                        self._picture.notify_all()
            spent = time.monotonic() - start
            self._closing.wait(max(self.period_s - spent, spent))

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        if not self._stream_slots.acquire(blocking=False):
            self.count("refused_streams")
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
                self.count("parts_sent")
        finally:
            with self._counting:
                self._streaming -= 1
            self._stream_slots.release()

    def count(self, name: str, n: int = 1) -> None:
        with self._counting:
            self.counters[name] += n

    def failed(self, what: str) -> None:
        """Count a failure; log the first few in full, then every 100th (a broken picture
        must not flood the robot's log at STREAM_FPS)."""
        self.count("errors")
        n = self.counters["errors"]
        if n <= 3 or n % 100 == 0:
            logger.exception("live view: %s failed (%d failures so far); the robot goes on",
                             what, n)

    def _thread(self, name: str, body) -> threading.Thread:
        def guarded():
            try:
                body()
            except Exception:
                self.failed(f"its {name} thread")
        t = threading.Thread(target=guarded, name=f"{self.thread_prefix}-{name}", daemon=True)
        t.start()
        return t
