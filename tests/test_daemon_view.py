"""The live view (issue #12 §2) on a real Daemon: the demo box, the sim with the reference
firmware on its pty, the real arbiter, the view on a free port of 127.0.0.1; its page is
loaded in a real headless Chromium where the machine has one (`.ci/run` installs it)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from spikebox.runtime.daemon import ConfigError, RunConfig
from spikebox.runtime.daemon import view as view_module
from spikebox.runtime.daemon.run import Daemon, demo_overrides
from spikebox.runtime.daemon.view import STATUS_MIN_S, STREAM_FPS, LiveView
from spikebox.runtime.daemon.view_http import jsonable
from spikebox.runtime.daemon.view_draw import VIEW_WIDTH_PX, view_size_px

DEMO = Path(__file__).resolve().parent.parent / "models" / "demo.box"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
EXPERTS = 5                                   # the demo box's
PICTURE_HW = view_size_px((160, 120), EXPERTS)[::-1]
CAMERA_H = 120 * VIEW_WIDTH_PX // 160
STATUS_KEYS = {"t_s", "fps", "frame_id", "fired", "awake", "resident", "resident_bytes",
               "budget_bytes", "page_ins", "latency_ms_p99", "command", "link", "estop",
               "zone", "view"}


def demo_config(seconds: float) -> RunConfig:
    return RunConfig(box=str(DEMO)).with_overrides(
        {**demo_overrides(DEMO), "source.capture": "sim:tour:0", "seconds": seconds, "view_port": 0})


def start_daemon(config: RunConfig, views) -> SimpleNamespace:
    daemon = Daemon(config, observers=views)
    run = SimpleNamespace(daemon=daemon, summary=None)

    def body():
        run.summary = daemon.run()
    run.thread = threading.Thread(target=body, name="test-daemon", daemon=True)
    run.thread.start()
    return run


def wait_for(predicate, timeout_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def get(url: str, timeout_s: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def status(url: str) -> dict:
    code, kind, body = get(url + "status.json")
    assert code == 200 and kind == "application/json"
    return json.loads(body)


def read_parts(response, n: int) -> list[np.ndarray]:
    """The next n JPEG parts of a multipart/x-mixed-replace response, decoded."""
    pictures = []
    for _ in range(n):
        assert response.readline() == b"--spikebox-frame\r\n"
        headers = {}
        while (line := response.readline()) != b"\r\n":
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        jpeg = response.read(int(headers["content-length"]))
        assert response.read(2) == b"\r\n"
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None, "a part that is not a JPEG"
        pictures.append(picture)
    return pictures


def refused(url: str) -> bool:
    host, port = url.split("//")[1].rstrip("/").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def view_threads(view: LiveView) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(view.thread_prefix)]


@pytest.fixture(scope="module")
def live():
    announced = []
    view = LiveView(port=0, on_serving=announced.append)
    run = start_daemon(demo_config(120.0), [view])
    wait_for(lambda: view.url is not None or run.summary is not None, what="the view's URL")
    assert view.url is not None, f"the run ended first: {run.summary}"
    assert announced == [view.url] and view.url.startswith("http://127.0.0.1:")
    wait_for(lambda: status(view.url)["frame_id"] is not None, what="the first frame")
    yield SimpleNamespace(view=view, url=view.url, run=run)
    run.daemon.stop("the tests are done")
    run.thread.join(30)


def test_status_json_is_the_board_and_the_views_counters_and_it_moves(live):
    # The view measures fps over its own window: its polls never call the daemon's board,
    # whose snapshots time the status line's fps.
    board, calls = live.run.daemon.parts["board"], []
    board.snapshot = lambda *a: calls.append(a) or type(board).snapshot(board, *a)
    try:
        t0 = time.monotonic()
        first = status(live.url)
        again = status(live.url)                   # polled at once: the same figures ...
        quick = time.monotonic() - t0 < STATUS_MIN_S   # (... unless this machine stalled)
        time.sleep(1.0)
        second = status(live.url)
    finally:
        del board.snapshot
    assert calls == []
    assert again["t_s"] == first["t_s"] or not quick
    assert again["view"]["status"] == first["view"]["status"] + 1
    assert STATUS_KEYS <= first.keys() and STATUS_KEYS <= second.keys()
    assert second["t_s"] > first["t_s"] and second["frame_id"] > first["frame_id"]
    assert second["link"] == "up" and isinstance(second["command"]["left_mm_s"], int)
    assert second["budget_bytes"] > 0 and set(second["resident"]) <= set(
        ["line_follow", "sign_read", "ball_find", "obstacle_avoid", "dock", "exit_find"])
    assert second["view"]["url"] == live.url
    assert second["view"]["status"] == first["view"]["status"] + 2
    assert second["view"]["errors"] == 0


def test_the_stream_sends_distinct_pictures_to_several_clients_and_survives_one_leaving(live):
    view = live.view
    before = dict(view.counters)
    t0 = time.monotonic()
    # One client leaves after the headers, another mid-picture: neither reaches the robot.
    quitter = urllib.request.urlopen(live.url + "stream.mjpg", timeout=10)
    rude = socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1][:-1])))
    rude.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
    rude.recv(300)
    rude.close()
    quitter.close()
    got: dict[int, list] = {}

    def watch(i):
        with urllib.request.urlopen(live.url + "stream.mjpg", timeout=10) as r:
            assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=spikebox-frame"
            got[i] = read_parts(r, 4)
    watchers = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
    for w in watchers:
        w.start()
    for w in watchers:
        w.join(30)
    renders, elapsed = view.counters["renders"] - before["renders"], time.monotonic() - t0
    assert sorted(got) == [0, 1]
    for pictures in got.values():
        assert all(p.shape == (*PICTURE_HW, 3) for p in pictures)
        # The camera's part of each picture is a frame, not a flat placeholder ...
        assert all(p[:CAMERA_H].std() > 10 for p in pictures)
        # ... and each picture is a new one (the robot moves, the raster scrolls).
        for a, b in zip(pictures, pictures[1:]):
            assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5
    # Both watchers were served the same pictures: drawn once, whatever the clients.
    assert renders <= STREAM_FPS * elapsed + 2
    wait_for(lambda: view.counters["disconnects"] >= before["disconnects"] + 2,
             timeout_s=10, what="the two clients that left to be counted")
    assert view.counters["errors"] == 0
    assert live.run.daemon.failure is None and live.run.summary is None   # still running


def test_anything_else_is_404(live):
    for path in ("nope", "stream.mjpg/x", "status.json.bak", "index.html"):
        with pytest.raises(urllib.error.HTTPError) as info:
            get(live.url + path)
        assert info.value.code == 404, path
    assert live.view.counters["not_found"] >= 4


def test_the_page_in_a_headless_chromium_shows_the_stream_and_the_status(live, tmp_path):
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip(f"no Chromium on this machine: none of {', '.join(BROWSERS)} is on PATH "
                    "(.ci/run installs Debian's chromium when it runs as root)")
    code, kind, page = get(live.url)
    assert code == 200 and kind.startswith("text/html") and b'src="/stream.mjpg"' in page
    shot = tmp_path / "view.png"
    width, height = PICTURE_HW[1] + 460, PICTURE_HW[0] + 40
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. The virtual
    # time budget lets the page's script fetch /status.json before the picture is taken.
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={width},{height}", "--virtual-time-budget=3000",
         f"--screenshot={shot}", live.url],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), f"{browser} took no screenshot: {done.stderr[-2000:]}"
    png = cv2.imread(str(shot))
    assert png.shape[:2] == (height, width)
    # The stream's place on the page (top left) holds the camera, not an empty box ...
    camera = png[:CAMERA_H, :VIEW_WIDTH_PX]
    assert camera.std() > 10 and len(np.unique(camera.reshape(-1, 3), axis=0)) > 100
    # ... with the dark panel of the raster and the experts under it ...
    panel = png[CAMERA_H:PICTURE_HW[0], :VIEW_WIDTH_PX]
    assert panel.mean() < 70 and camera.mean() > panel.mean() + 40
    # ... and the script fetched /status.json: its lamp beside the stream turned green.
    lamp = png[:40, VIEW_WIDTH_PX:VIEW_WIDTH_PX + 60].reshape(-1, 3).astype(int)
    assert ((lamp[:, 1] > 180) & (lamp[:, 0] < 80) & (lamp[:, 2] < 80)).sum() > 100, \
        "the status lamp is not green: the page's script did not get /status.json"
    assert live.view.counters["pages"] >= 2 and live.view.counters["errors"] == 0


class BrokenView(LiveView):
    """A view whose picture cannot be drawn."""

    def picture(self):
        raise ValueError("a drawing bug")


def test_a_view_that_fails_never_stops_the_robot_and_stop_leaves_nothing_behind(monkeypatch):
    drawn_in: set[str] = set()
    draw = view_module.draw_view

    def spying_draw(state):
        drawn_in.add(threading.current_thread().name)
        return draw(state)
    monkeypatch.setattr(view_module, "draw_view", spying_draw)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    blocked = LiveView(port=taken.getsockname()[1])
    broken, watched = BrokenView(port=0), LiveView(port=0, max_streams=1)
    # Long enough for any machine to reach the end of the checks; the test ends the run itself
    # (a 4 s run, on a loaded machine, ended before the watcher connected).
    run = start_daemon(demo_config(120.0), [blocked, broken, watched])
    try:
        wait_for(lambda: watched.url is not None, what="the view's URL")
        with urllib.request.urlopen(broken.url + "stream.mjpg", timeout=10) as r:
            assert r.status == 200
            wait_for(lambda: broken.counters["errors"] >= 3, timeout_s=20, what="failed drawings")
        # A client still watching when the run ends: its stream ends, nothing hangs.
        with urllib.request.urlopen(watched.url + "stream.mjpg", timeout=10) as r:
            read_parts(r, 2)
            with pytest.raises(urllib.error.HTTPError) as info:    # one watcher too many
                get(watched.url + "stream.mjpg")
            assert info.value.code == 503 and watched.counters["refused_streams"] == 1
            run.daemon.stop("the test")
            run.thread.join(60)
            assert not run.thread.is_alive(), "the run did not end with a client watching"
            r.read()                                 # the stream's end, not a time-out
    finally:
        run.daemon.stop("test")
        run.thread.join(30)
        taken.close()
    summary = run.summary
    assert summary["failure"] is None and summary["frames"] > 10
    assert summary["motors_confirmed_zero"] and summary["ended_by"] == "the test"
    assert blocked.url is None and blocked.counters["errors"] == 1
    assert watched.counters["errors"] == 0 and watched.counters["parts_sent"] >= 2
    for view in (broken, watched):
        assert refused(view.url), f"{view.url} still takes connections after the run"
        assert view_threads(view) == [], f"threads left behind: {view_threads(view)}"
    # Pictures are drawn in the view's own thread, never in the vision or control loop.
    assert drawn_in == {f"{watched.thread_prefix}-render"}


def test_view_port_is_a_tcp_port_or_0():
    assert RunConfig().view_port == 8765 and RunConfig(view_port=0).view_port == 0
    for bad in (-1, 65536):
        with pytest.raises(ConfigError, match=rf"view_port = {bad}: must be a TCP port"):
            RunConfig.from_dict({"view_port": bad})
    with pytest.raises(ConfigError, match='view_port = "8765": must be an integer'):
        RunConfig.from_dict({"view_port": "8765"})


def test_status_json_spells_numpy_and_non_finite_numbers_as_json_can():
    out = jsonable({"fps": np.float32(12.5), "n": np.int64(3), "p99": float("nan"),
                     "lag": [float("inf"), 1.5], "who": ("a", "b")})
    assert out == {"fps": 12.5, "n": 3, "p99": None, "lag": [None, 1.5], "who": ["a", "b"]}
    json.dumps(out, allow_nan=False)
