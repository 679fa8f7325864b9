"""The MCU's end of a pseudo-terminal, for an MCU that lives in this process.

    end = McuPty()                 # end.url: the path a Link opens like /dev/ttyUSB0
    data = end.read()              # host bytes, b"" when none (or between a Link's re-opens)
    end.write(mcu_bytes)           # returns how many the kernel took; the rest are lost
    end.close()

Used by the lossy line (lossy_line.py) and the sim's MCU (sim_mcu.py), whose
firmware core runs in this process rather than in the virtual MCU's own.
"""
from __future__ import annotations

import errno
import os
import tty


class McuPty:
    def __init__(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        # The slave stays open here too: a pty whose slave side nobody holds
        # reads EIO at the master between the Link's close and re-open.
        self.url = os.ttyname(self._slave)

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EIO):
                raise
            return b""

    def write(self, data: bytes) -> int:
        """Bytes for the host; nobody reading (a Link re-opening) loses them, as a wire would."""
        try:
            return os.write(self.master, data)
        except OSError:
            return 0

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
