"""One frame onto the port: never blocking, and never a frame that went out counted as lost.

    sent = write_frame(port, b"\\x00" + frame)    # True: all of it is in the port's buffer

pyserial 3.5's posix `Serial.write` with a write_timeout checks the timeout right after
`os.write()` and raises SerialTimeoutException("Write timeout") if the thread was
descheduled past it, even when the whole buffer was written (serialposix.py: `if
timeout.expired(): raise` comes before it looks at what is left). Under CPU load the link
then logged DRIVEs that reached the MCU as failed writes and counted them not sent.

A plain posix port (pyserial opens its fd O_NONBLOCK) is written here with one os.write:
the whole frame goes into the kernel's buffer, or it counts as not sent (a full buffer: the
MCU is not reading); a partial frame is ended by the next frame's leading delimiter, as a
failed write's always was. Ports of other classes (loop://, spy://, which logs in its own
write, the ones of other platforms) go through their own write().
"""
from __future__ import annotations

import os

import serial

try:
    from serial.serialposix import Serial as PosixSerial
except ImportError:            # not a posix platform: every port writes by its own write()
    PosixSerial = None


def write_frame(port, data: bytes) -> bool:
    """Write `data` without blocking; True if all of it went out. SerialException if the port
    failed (unplugged, closed under us)."""
    if PosixSerial is not None and type(port).write is PosixSerial.write:
        try:
            written = os.write(port.fileno(), data)
        except BlockingIOError:
            return False
        except OSError as e:
            raise serial.SerialException(f"write failed: {e}") from e
        return written == len(data)
    port.write(data)
    return True
