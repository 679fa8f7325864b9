"""Helpers for tests that run the whole daemon in real time: run it in a thread, wait for a
condition with a deadline."""
import threading
import time


def run_in_thread(daemon):
    """Start daemon.run() in a thread; (the thread, a dict that gets "summary" when it ends)."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("summary", daemon.run()), daemon=True)
    t.start()
    return t, out


def wait(predicate, timeout_s: float) -> bool:
    """True as soon as predicate() is, False if it is not within timeout_s."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False
