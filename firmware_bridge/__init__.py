"""The serial link between the robot's host and its microcontroller.

A leaf package: it imports nothing else of spikebox, so a robot may use the
bridge alone. PROTOCOL.md is the byte-level specification; firmware/ holds
the reference firmware core (C) that speaks it.

    from spikebox.firmware_bridge import Link, LinkConfig
    with Link(LinkConfig(url="/dev/ttyUSB0")) as link:
        link.send_drive(200, 200)
"""
from .link import Link
from .link_types import (BridgeError, CommandRefused, CommandSuperseded, CommandTimeout,
                         DriveSent, HandshakeTimeout, LinkConfig, LinkConfigError, LinkDownError,
                         McuInfo, NotConnectedError, ProtocolMismatch)
from .telemetry import Telemetry

__all__ = ["BridgeError", "CommandRefused", "CommandSuperseded", "CommandTimeout", "DriveSent",
           "HandshakeTimeout",
           "Link", "LinkConfig", "LinkConfigError", "LinkDownError", "McuInfo", "NotConnectedError",
           "ProtocolMismatch", "Telemetry"]
