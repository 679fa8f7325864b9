"""The host link against the real firmware core, over a real pseudo-terminal.

Every test here talks to `virtual_mcu` (firmware/ built for this machine) through
a pty, as a robot talks to its MCU through /dev/ttyUSB0. No wall-clock bound is
asserted: waits are generous deadlines for things that must happen, and
durations are checked only against what the firmware itself reports.
"""
import subprocess
import sys
import time

import pytest
import serial

from spikebox.firmware_bridge import (HandshakeTimeout, Link, LinkConfig, LinkConfigError,
                                      LinkDownError, NotConnectedError, ProtocolMismatch)
from spikebox.firmware_bridge.faults import FaultInjector, judge
from spikebox.firmware_bridge.link import printable
from spikebox.firmware_bridge.lossy_line import LossyLine
from spikebox.firmware_bridge.framing import FrameDecoder, encode_frame, encode_raw
from spikebox.firmware_bridge.protocol import PROTOCOL_VERSION, SCHEMA_HASH, STATE_ESTOPPED
from spikebox.firmware_bridge.virtual_mcu import VirtualMcu


def wait_for(cond, timeout_s=3.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def mcu():
    with VirtualMcu() as m:
        yield m


@pytest.fixture
def link(mcu):
    with Link(LinkConfig(url=mcu.url)) as lk:
        yield lk


def drive_until(link, left, right, cond, timeout_s=3.0, what="wheels"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        link.send_drive(left, right)
        link.heartbeat()
        t = link.latest_telemetry()
        if t is not None and cond(t):
            return t
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}: last {link.latest_telemetry()}")


def test_handshake_reports_the_firmware(link):
    assert link.connected
    assert link.mcu.proto_version == PROTOCOL_VERSION
    assert link.mcu.schema_hash == SCHEMA_HASH
    assert link.mcu.watchdog_ms == 200
    assert link.mcu.firmware_id


def test_drive_is_applied_and_echoed_in_telemetry(link):
    sent = link.send_drive(300, -300)
    assert (sent.left_mm_s, sent.right_mm_s) == (300, -300)
    wait_for(lambda: (t := link.latest_telemetry()) and t.last_drive_seq == sent.seq,
             what="TELEMETRY echoing the DRIVE seq")
    t = drive_until(link, 300, -300, lambda t: t.left_mm_s > 250 and t.right_mm_s < -250)
    assert t.handshaken and not t.motors_stopped
    before = t.left_ticks
    t = drive_until(link, 300, -300, lambda t: t.left_ticks > before + 100, what="encoder ticks")
    assert t.right_ticks < 0 and t.battery_mv > 9000 and 800 < t.accel_z_mg < 1200
    assert t.gyro_z_cdps != 0, "spinning in place must show on the gyro"
    assert link.stats()["rtt_samples"] >= 1


def test_setpoints_are_clipped_to_the_configured_limit(mcu):
    with Link(LinkConfig(url=mcu.url, max_wheel_mm_s=400)) as link:
        sent = link.send_drive(5000, -5000.4)
        assert (sent.left_mm_s, sent.right_mm_s) == (400, -400)


def test_watchdog_stops_the_wheels_when_the_host_goes_silent(link):
    drive_until(link, 250, 250, lambda t: t.left_mm_s > 200)
    silent_from = time.monotonic()
    wait_for(lambda: (t := link.latest_telemetry()) and t.watchdog_stopped, 3.0, "watchdog")
    t = link.latest_telemetry()
    # The firmware measures on its own clock: the stop is never early.
    assert t.last_watchdog_stop_ms is not None and t.last_watchdog_stop_ms >= 200
    assert t.timeouts >= 1
    assert any("watchdog" in text.lower() for _, text in link.logs)
    wait_for(lambda: abs(link.latest_telemetry().left_mm_s) < 5, 3.0, "wheels at zero")
    assert time.monotonic() - silent_from >= 0.2
    # the next DRIVE resumes
    t = drive_until(link, 250, 250, lambda t: not t.watchdog_stopped and t.left_mm_s > 100)


def test_heartbeat_alone_keeps_the_watchdog_quiet(link):
    drive_until(link, 200, 200, lambda t: t.left_mm_s > 150)
    end = time.monotonic() + 0.6            # three watchdog periods without DRIVE
    while time.monotonic() < end:
        link.heartbeat()
        time.sleep(0.02)
    t = link.latest_telemetry()
    assert not t.watchdog_stopped and t.left_mm_s > 150 and t.timeouts == 0


def test_estop_latches_and_clear_waits_for_a_fresh_drive(link):
    drive_until(link, 300, 300, lambda t: t.left_mm_s > 250)
    assert link.estop() == 0                             # applied
    t = drive_until(link, 300, 300, lambda t: t.estopped and abs(t.left_mm_s) < 5,
                    what="e-stop holding the wheels at zero while the loop keeps asking")
    assert link.stats()["drives_held"] > 0, "latched: the host sends no DRIVE"
    assert link.clear() == 0
    # After CLEAR the old setpoint is not resumed: only heartbeats, wheels stay at zero.
    wait_for(lambda: (t := link.latest_telemetry()) and not t.estopped, what="clear")
    for _ in range(15):
        link.heartbeat()
        time.sleep(0.01)
    t = link.latest_telemetry()
    assert t.awaiting_drive and abs(t.left_mm_s) < 5
    drive_until(link, 200, 200, lambda t: not t.awaiting_drive and t.left_mm_s > 100)


class DropWindow:
    """Loses every received byte for a moment: the MCU's ACK never reaches the host."""
    def __init__(self):
        self.until = 0.0

    def __call__(self, data: bytes) -> bytes:
        return b"" if time.monotonic() < self.until else data


def test_lost_ack_is_retried_and_the_mcu_deduplicates(mcu):
    drop = DropWindow()
    with Link(LinkConfig(url=mcu.url, ack_timeout_ms=60, link_timeout_ms=2000),
              rx_filter=drop) as link:
        drive_until(link, 100, 100, lambda t: t.left_mm_s > 50)
        drop.until = time.monotonic() + 0.08     # first attempt's ACK is lost
        result = link.estop()
        assert result == 1, "the retry must be acked as a duplicate, not applied twice"
        s = link.stats()
        assert s["retries"] >= 1 and s["timeouts"] >= 1
        wait_for(lambda: link.latest_telemetry().estopped, what="estopped")


def test_a_line_of_garbage_does_not_keep_the_link_alive(mcu):
    """Bytes keep coming but no valid frame does (a wrong baud rate, a babbling MCU):
    the link must go down after link_timeout_ms, not stay 'connected' forever."""
    garble = DropWindow()

    def filt(data: bytes) -> bytes:
        return bytes(0x55 for _ in data) if time.monotonic() < garble.until else data

    with Link(LinkConfig(url=mcu.url, link_timeout_ms=300), rx_filter=filt) as link:
        garble.until = time.monotonic() + 60
        wait_for(lambda: not link.connected, 5.0, "the link to notice it hears no frames")
        assert link.stats()["timeouts"] >= 1
        garble.until = 0.0
        wait_for(lambda: link.connected, 5.0, "reconnect once frames are back")


def test_mcu_deduplicates_commands_by_id_on_the_wire(mcu):
    """Raw bytes, no Link: the same cmd_id twice is applied once and acked twice."""
    port = serial.serial_for_url(mcu.url, timeout=0.05)
    dec = FrameDecoder()
    seq = iter(range(1000))

    def send(name, **fields):
        port.write(b"\x00" + encode_frame(name, next(seq), fields))

    def frames_until(name, timeout_s=2.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for f in dec.feed(port.read(256)):
                if f.name == name:
                    return f.fields()
        raise AssertionError(f"no {name}")

    try:
        send("CLEAR", cmd_id=9)                                   # before the handshake
        assert frames_until("ACK")["result"] == 2                 # refused
        send("HELLO", proto_version=PROTOCOL_VERSION, schema_hash=SCHEMA_HASH)
        assert frames_until("HELLO_ACK")["status"] == 0
        send("ESTOP", cmd_id=5, reason=1)
        assert frames_until("ACK") == dict(cmd_id=5, acked_msg_id=0x11, result=0)
        send("ESTOP", cmd_id=5, reason=1)
        assert frames_until("ACK") == dict(cmd_id=5, acked_msg_id=0x11, result=1)
        send("CLEAR", cmd_id=4)                                   # issued before ESTOP 5
        assert frames_until("ACK") == dict(cmd_id=4, acked_msg_id=0x12, result=3)   # stale
        assert frames_until("TELEMETRY")["stale_frames"] == 1      # and reported
        assert frames_until("TELEMETRY")["state"] & STATE_ESTOPPED
    finally:
        port.close()


def test_commands_while_the_link_is_down_fail_fast(link, mcu):
    mcu.kill()
    wait_for(lambda: not link.connected, 3.0, "link noticing the unplug")
    with pytest.raises(LinkDownError, match="down"):
        link.clear()


@pytest.mark.parametrize("kwargs, words", [
    (dict(proto_version=2), "host speaks protocol 1"),
    (dict(schema_hash=0x12345678), "schema 0x12345678"),
])
def test_mismatched_firmware_is_refused_with_both_versions(kwargs, words):
    with VirtualMcu(firmware_id="old-fw", **kwargs) as mcu:
        link = Link(LinkConfig(url=mcu.url))
        with pytest.raises(ProtocolMismatch) as err:
            link.connect()
        msg = str(err.value)
        assert words in msg and "old-fw" in msg and f"0x{SCHEMA_HASH:08x}" in msg
        if "proto_version" in kwargs:
            assert "protocol 2" in msg
        assert not link.connected


def test_nothing_answering_times_out_with_a_clear_error():
    link = Link(LinkConfig(url="loop://", handshake_timeout_ms=200))
    with pytest.raises(HandshakeTimeout, match="no HELLO_ACK from loop://"):
        link.connect()


def test_missing_port_times_out_and_names_it(tmp_path):
    link = Link(LinkConfig(url=str(tmp_path / "ttyUSB9"), handshake_timeout_ms=200))
    with pytest.raises(HandshakeTimeout, match="ttyUSB9"):
        link.connect()


def test_use_before_connect_is_a_typed_error():
    link = Link(LinkConfig(url="loop://"))
    with pytest.raises(NotConnectedError):
        link.send_drive(1, 1)
    with pytest.raises(ValueError, match="ack_timeout_ms"):
        LinkConfig(url="loop://", ack_timeout_ms=0)


@pytest.mark.parametrize("kwargs, field", [
    (dict(url=""), "url"), (dict(baudrate=0), "baudrate"), (dict(rtt_window=0), "rtt_window"),
    (dict(max_retries=-1), "max_retries"), (dict(backoff_min_ms=300), "backoff_max_ms"),
    (dict(max_wheel_mm_s=0), "max_wheel_mm_s"), (dict(max_wheel_mm_s=32768), "max_wheel_mm_s"),
])
def test_link_config_errors_name_the_field_and_the_value(kwargs, field):
    with pytest.raises(LinkConfigError) as info:
        LinkConfig(**{"url": "loop://", **kwargs})
    assert info.value.field == field and f"LinkConfig.{field} = " in str(info.value)
    LinkConfig(url="loop://", max_wheel_mm_s=32767)          # the DRIVE field's own limit fits


def test_unplug_and_replug_reconnects_without_the_caller(link, mcu):
    drive_until(link, 100, 100, lambda t: t.left_mm_s > 50)
    for round_ in range(2):
        mcu.kill()
        wait_for(lambda: not link.connected, 3.0, "link noticing the unplug")
        t0 = time.monotonic()
        assert link.send_drive(100, 100) is None       # down: nothing sent, and no blocking
        assert time.monotonic() - t0 < 0.5
        mcu.start()
        wait_for(lambda: link.connected, 5.0, "re-handshake")
        drive_until(link, 100, 100, lambda t: t.left_mm_s > 50, what="driving again")
    s = link.stats()
    assert s["reconnects"] == 2 and len(s["reconnect_ms"]) == 2
    assert s["drives_not_sent"] >= 2


def test_garbage_from_the_host_is_counted_by_the_mcu(mcu):
    """The MCU survives and counts garbage, oversize and unknown frames, then still works."""
    port = serial.serial_for_url(mcu.url, timeout=0.05)
    try:
        port.write(bytes(range(1, 256)) * 2 + b"\x00")                    # oversize
        port.write(b"\x05\x01\x10\x00")                                    # framing
        bad = bytearray(encode_frame("DRIVE", 3, dict(left_mm_s=1, right_mm_s=1)))
        bad[6] ^= 0x40
        port.write(bytes(bad))                                            # CRC
        port.write(encode_raw(0x7E, 4, b"\x01"))                          # unknown id
        port.write(b"\x00" + encode_frame("HELLO", 5, dict(proto_version=PROTOCOL_VERSION,
                                                           schema_hash=SCHEMA_HASH)))
        dec = FrameDecoder()
        deadline = time.monotonic() + 3
        tel = None
        while time.monotonic() < deadline and tel is None:
            for f in dec.feed(port.read(512)):
                if f.name == "TELEMETRY" and f.fields()["state"] & 1:
                    tel = f.fields()
        assert tel is not None, "no telemetry after garbage + HELLO"
        assert tel["oversize"] >= 1 and tel["resyncs"] >= 4
        assert tel["crc_errors"] >= 1 and tel["unknown_ids"] >= 1
    finally:
        port.close()


def test_faults_on_the_live_link_accept_nothing_corrupt(mcu):
    injector = FaultInjector(0.0, seed=11)
    accepted = []
    cfg = LinkConfig(url=mcu.url, link_timeout_ms=3000)
    with Link(cfg, rx_filter=injector, on_frame=lambda f: accepted.append(
            encode_raw(f.msg_id, f.seq, f.payload, version=f.version)[:-1])) as link:
        injector.rate = 0.10   # after the handshake: a 33-byte HELLO_ACK rarely survives 10 %
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            link.send_drive(120, 80)
            link.heartbeat()
            time.sleep(0.005)
        s = link.stats()
    report = judge(bytes(injector.clean), injector.damaged_at, accepted)
    assert report.frames_damaged > 20
    assert report.corrupt_frames_accepted == 0
    assert report.resync_frames_max <= 1
    assert s["crc_errors"] + s["framing_errors"] > 0


def test_mcu_survives_faults_on_its_receive_path():
    with VirtualMcu(rx_fault_rate=0.02, seed=3) as mcu:
        cfg = LinkConfig(url=mcu.url, handshake_timeout_ms=3000)
        with Link(cfg) as link:
            t = drive_until(link, 150, 150, lambda t: t.left_mm_s > 100 and t.crc_errors
                            + t.resyncs > 0, timeout_s=5, what="driving through faults")
            assert t.handshaken


def test_mcu_log_text_cannot_drive_the_terminal():
    assert printable("ok\x1b[2J\x1b]0;pwned\x07 done") == "ok\\x1b[2J\\x1b]0;pwned\\x07 done"
    assert printable("héllo 42") == "héllo 42"


def _wait_moving(link, line, left):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if link.send_drive(left, left) is not None and line.core.left_mm_s == left:
            return True
        link.heartbeat()
        time.sleep(0.01)
    return False


def test_a_hello_ack_this_host_did_not_ask_for_remakes_the_session():
    """Another host's HELLO reaches the MCU: it starts a session whose seq floor is not
    ours, so our DRIVEs would be stale to it. The link notices the unasked-for answer
    and handshakes again; the wheels answer our DRIVEs again."""
    with LossyLine() as line:
        with Link(LinkConfig(url=line.url, hello_interval_ms=20)) as link:
            assert _wait_moving(link, line, 120)
            far_ahead = (link._seq + 20000) & 0xFFFF
            line.inject(b"\x00" + encode_frame("HELLO", far_ahead, dict(
                proto_version=PROTOCOL_VERSION, schema_hash=SCHEMA_HASH)))
            assert _wait_moving(link, line, 140), "our DRIVEs stayed stale to the MCU"
            assert link.stats()["stray_hello_acks"] == 1


def test_a_mismatch_answer_while_connected_ends_the_session():
    with LossyLine() as line:
        with Link(LinkConfig(url=line.url, hello_interval_ms=20)) as link:
            assert _wait_moving(link, line, 120)
            line.inject(b"\x00" + encode_frame("HELLO", 0, dict(
                proto_version=PROTOCOL_VERSION, schema_hash=SCHEMA_HASH ^ 1)))
            wait_for(lambda: not link.connected, 3.0, "the link to drop the refused session")
            assert link.stats()["stray_hello_acks"] == 1
            wait_for(lambda: link.connected, 5.0, "a new handshake of its own")
            assert _wait_moving(link, line, 150)


def test_virtual_mcu_does_not_outlive_a_crashed_parent(tmp_path):
    """A process that starts a virtual MCU and dies without cleaning up (os._exit):
    the MCU notices it was orphaned and exits, removing its link."""
    import os
    import signal
    code = ("import os, sys\n"
            "from spikebox.firmware_bridge.virtual_mcu import VirtualMcu\n"
            f"m = VirtualMcu({str(tmp_path / 'mcu.tty')!r}); m.start()\n"
            "print(m.proc.pid, flush=True)\n"
            "os._exit(1)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    pid = int(out.stdout.split()[0])

    def gone():
        try:   # exited: no such process, or a zombie that init has not reaped yet
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    try:
        wait_for(gone, 5.0, "the orphaned virtual MCU to exit")
    finally:
        if not gone():
            os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / "mcu.tty").exists(), "the link symlink was left behind"


def test_a_frame_that_went_out_is_never_counted_lost_when_the_writer_is_descheduled(link,
                                                                                   monkeypatch):
    """pyserial 3.5's posix write raises 'Write timeout' after os.write() wrote the whole frame
    if the thread was descheduled past write_timeout (seen under load: DRIVEs that reached the
    MCU logged as failed and counted not sent). Here pyserial's timeout clock jumps 50 ms at
    every reading, past the 20 ms limit, as a descheduled thread sees it: every DRIVE must
    still count as sent, and the MCU applies the last."""
    import itertools
    import serial.serialutil
    ticks = itertools.count()
    monkeypatch.setattr(serial.serialutil.Timeout, "TIME",
                        staticmethod(lambda: next(ticks) * 0.050))
    before = link.stats()["tx_errors"]
    sent = [link.send_drive(100 + k, 100 + k) for k in range(20)]
    assert all(s is not None for s in sent)
    assert link.stats()["tx_errors"] == before
    drive_until(link, 119, 119, lambda t: t.left_mm_s > 60, what="the last DRIVE applied")


def test_loop_and_spy_ports_write_through_their_own_write():
    """Only a plain posix port is written with os.write: spy:// logs in its write (a debug tool
    must see every frame), loop:// has no fd."""
    import serial
    from spikebox.firmware_bridge.port_write import write_frame
    port = serial.serial_for_url("loop://", timeout=0.05)
    assert write_frame(port, b"\x00abc") and port.read(4) == b"\x00abc"
    port.close()
