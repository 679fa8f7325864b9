"""The virtual MCU: the reference firmware core, built for this computer, behind a pty.

    with VirtualMcu() as mcu:                 # builds firmware/ with make if needed
        link = Link(LinkConfig(url=mcu.url))  # mcu.url is a stable symlink to the pty
        ...
        mcu.kill(); mcu.start()               # unplug and replug: same url, new pty

It is what tests, benchmarks and the demo talk to when no robot is attached.
The firmware is plain C (firmware/), compiled by its own Makefile with the
system's C compiler; nothing is downloaded.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

FIRMWARE_DIR = Path(__file__).with_name("firmware")


class FirmwareBuildError(RuntimeError):
    pass


def _build_dir() -> Path:
    repo = FIRMWARE_DIR.parent.parent
    if (repo / "pyproject.toml").exists() and os.access(repo, os.W_OK):
        return repo / "build" / "firmware"  # a source checkout
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "spikebox" / "firmware"


def ensure_binary(target: str = "virtual_mcu") -> Path:
    """Build (or find up to date) a firmware host binary; returns its path."""
    build = _build_dir()
    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        raise FirmwareBuildError("building the virtual MCU needs make and a C compiler "
                                 "(on Debian/Ubuntu: sudo apt-get install build-essential)")
    build.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), f"BUILD={build}", target],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise FirmwareBuildError(f"make {target} in {FIRMWARE_DIR} failed:\n{proc.stderr}")
    return build / target


class VirtualMcu:
    """A virtual MCU process; `url` stays the same across kill()/start()."""

    def __init__(self, link_path: str | os.PathLike | None = None, *, watchdog_ms: int = 200,
                 firmware_id: str | None = None, proto_version: int | None = None,
                 schema_hash: int | None = None, rx_fault_rate: float = 0.0, seed: int = 1,
                 start_timeout_s: float = 5.0):
        self._tmp = None
        if link_path is None:
            self._tmp = tempfile.mkdtemp(prefix="spikebox-vmcu-")
            link_path = Path(self._tmp) / "mcu.tty"
        self.url = str(link_path)
        self.args = ["--link", self.url, "--watchdog-ms", str(watchdog_ms), "--seed", str(seed),
                     "--parent-pid", str(os.getpid())]   # it exits if we crash
        if firmware_id is not None:
            self.args += ["--firmware-id", firmware_id]
        if proto_version is not None:
            self.args += ["--proto-version", str(proto_version)]
        if schema_hash is not None:
            self.args += ["--schema-hash", f"{schema_hash:08x}"]
        if rx_fault_rate:
            self.args += ["--rx-fault-rate", repr(rx_fault_rate)]
        self.start_timeout_s = start_timeout_s
        self.binary = ensure_binary()
        self.proc: subprocess.Popen | None = None
        self.pty_path: str | None = None
        self.stderr_path: Path | None = None

    def start(self) -> "VirtualMcu":
        if self.running:
            raise RuntimeError("virtual MCU already running")
        # The firmware's own stderr (its exit summary, setup errors) goes to a
        # file beside the link, so a failed start can say what happened.
        self.stderr_path = Path(self.url).with_suffix(".stderr")
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([str(self.binary), *self.args], stdout=subprocess.PIPE,
                                         stderr=err, stdin=subprocess.DEVNULL, text=True)
        line = _readline_with_timeout(self.proc.stdout, self.start_timeout_s)
        if not line.startswith("READY "):
            self.kill()
            raise RuntimeError(f"virtual MCU did not start ({self.binary}): {line!r}; "
                               f"its stderr: {self.stderr_path.read_text()[-500:]!r}")
        self.pty_path = line.split(None, 1)[1].strip()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Pull the plug: SIGKILL, so the host sees the port vanish mid-stream."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None

    def stop(self) -> None:
        """Clean shutdown (SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "VirtualMcu":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _readline_with_timeout(stream, timeout_s: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return out[0] if out else ""


if __name__ == "__main__":
    print(ensure_binary())
