"""`spikebox run` until the demo world exists: the control loop drives the bridge.

A fixed drive pattern over the serial link — forward, spin, e-stop and clear,
an arc, a deliberate silence that trips the MCU's watchdog — at the run
config's rates.control_hz (50 Hz by default), with a status line every
rates.status_period_s and the link's figures at the end. The link is the run
config's [link]: the virtual MCU (the reference firmware behind a pty) by
default, or any port URL.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from spikebox.firmware_bridge import BridgeError, Link
from spikebox.firmware_bridge.protocol import ACK_APPLIED, ACK_DUPLICATE
from spikebox.firmware_bridge.virtual_mcu import VirtualMcu
from spikebox.runtime.daemon.config import VIRTUAL_MCU, RunConfig
from spikebox.runtime.ratekeeper import Ratekeeper

logger = logging.getLogger(__name__)

ACK_WORDS = {ACK_APPLIED: "applied", ACK_DUPLICATE: "duplicate"}
CYCLE_S = 10.0
# (start s within the cycle, what, left mm/s, right mm/s)
PATTERN = [
    (0.0, "forward", 200, 200),
    (3.0, "spin", -150, 150),
    (4.5, "estop", 0, 0),
    (5.0, "clear", 0, 0),
    (5.1, "arc", 250, 150),
    (7.0, "silent", 0, 0),   # no DRIVE, no HEARTBEAT: the MCU's watchdog must stop the wheels
    (7.6, "forward", 200, 200),
]


def _phase(t: float) -> tuple[str, int, int]:
    t %= CYCLE_S
    current = PATTERN[0]
    for p in PATTERN:
        if t >= p[0]:
            current = p
    return current[1], current[2], current[3]


def run_bridge_demo(config: RunConfig | None = None) -> int:
    """The pattern with `config`'s link, rates and stop (seconds or frames; neither: Ctrl-C)."""
    config = config if config is not None else RunConfig()
    rates, seconds, frames = config.rates, config.seconds, config.frames
    print("spikebox run: the demo world and the daemon that joins camera, activator, pager "
          "and experts are not built yet;\nthis run exercises the firmware bridge: a drive "
          "pattern at "
          f"{rates.control_hz:g} Hz over the serial link.")
    mcu = None
    link_config = config.link
    if link_config.url == VIRTUAL_MCU:
        mcu = VirtualMcu().start()
        link_config = dataclasses.replace(link_config, url=mcu.url)
        print(f"virtual MCU: reference firmware on {mcu.pty_path} (link {mcu.url})")
    link = Link(link_config)
    try:
        info = link.connect()
    except BridgeError as e:
        print(f"error: {e}")
        if mcu:
            mcu.close()
        return 1
    print(f"handshake: '{info.firmware_id}', protocol {info.proto_version}, "
          f"watchdog {info.watchdog_ms} ms")
    if 1000 / rates.control_hz >= info.watchdog_ms:
        print(f"warning: at {rates.control_hz:g} Hz a heartbeat comes every "
              f"{1000 / rates.control_hz:.0f} ms, not within the MCU's {info.watchdog_ms} ms "
              "watchdog: it will stop the wheels between commands (raise rates.control_hz)")
    rk = Ratekeeper(rates.control_hz)
    start = time.monotonic()
    last_phase, next_status, watchdog_seen = None, 0.0, None
    try:
        while (seconds is None or time.monotonic() - start < seconds) and \
                (frames is None or rk.frame < frames):
            t = time.monotonic() - start
            phase, left, right = _phase(t)
            if phase != last_phase:
                note = ""
                try:
                    if phase == "estop":
                        note = f" (acked: {ACK_WORDS[link.estop()]}; wheels held at zero)"
                    elif phase == "clear":
                        note = (f" (acked: {ACK_WORDS[link.clear()]}; wheels stay at zero "
                                "until the next DRIVE)")
                except BridgeError as e:
                    note = f" FAILED: {e}"
                print(f"{t:6.2f} s  -> {phase}{note}")
                last_phase = phase
            if phase not in ("silent", "estop"):
                link.send_drive(left, right)
                link.heartbeat()
            elif phase == "estop":
                link.heartbeat()
            tel = link.latest_telemetry(max_age_ms=config.arbiter.telemetry_max_age_ms)
            if tel and tel.watchdog_stopped and watchdog_seen is None:
                watchdog_seen = tel.last_watchdog_stop_ms
                print(f"{t:6.2f} s  MCU watchdog stopped the motors "
                      f"{watchdog_seen} ms after the host went silent")
            if t >= next_status:
                next_status += rates.status_period_s
                _status(t, link, tel)
            rk.keep_time()
    except KeyboardInterrupt:
        pass
    finally:
        s = link.stats()
        link.close()
        if mcu:
            mcu.close()
    print(f"done: {rk.frame} cycles, {rk.missed_deadlines} missed deadlines; "
          f"{s['frames_sent']} frames sent, {s['frames']} received, "
          f"RTT p50 {_ms(s['rtt_ms_p50'])} p99 {_ms(s['rtt_ms_p99'])}; host errors "
          f"crc {s['crc_errors']} framing {s['framing_errors']} gaps {s['seq_gaps']}; "
          f"MCU counters {s['mcu']}")
    return 0


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} ms"


def _status(t: float, link: Link, tel) -> None:
    if tel is None:
        print(f"{t:6.2f} s  no telemetry (link {'up' if link.connected else 'down'})")
        return
    flags = [n for n, on in (("ESTOP", tel.estopped), ("WATCHDOG", tel.watchdog_stopped),
                             ("AWAIT_DRIVE", tel.awaiting_drive)) if on]
    print(f"{t:6.2f} s  wheels {tel.left_mm_s:5d} {tel.right_mm_s:5d} mm/s  ticks "
          f"{tel.left_ticks:7d} {tel.right_ticks:7d}  battery {tel.battery_mv} mV  "
          f"{' '.join(flags) or 'OK'}")
