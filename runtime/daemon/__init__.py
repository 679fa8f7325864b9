"""The robot daemon: its run config now; the table of stages and the loop that runs them next.

    from spikebox.runtime.daemon import RunConfig
    config = RunConfig.from_toml("robot.toml").with_overrides({"link.url": "/dev/ttyUSB0"})
"""
from .config import ConfigError, RunConfig

__all__ = ["ConfigError", "RunConfig"]
