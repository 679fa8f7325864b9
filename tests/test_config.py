"""The run config: TOML in and out, every refusal naming its key path, flags over the file."""
from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from spikebox.cli import BAD_CONFIG, main
from spikebox.runtime.daemon import ConfigError, RunConfig
from spikebox.runtime.daemon.config import SECTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

CUSTOM = """
seconds = 3.5

[source]
capture = "nvarguscamerasrc ! video/x-raw(memory:NVMM), width=1280 ! appsink"
frame_size_px = [320, 240]

[encoder]
timesteps = 8
event_grid = [32, 24]

[activator]
backend = "lava"

[pager]
budget_bytes = 64000000
policy = "lru"
pinned = ["avoid", "dock"]
prefetch = "off"

[link]
url = "/dev/ttyUSB0"
max_wheel_mm_s = 400

[rates]
control_hz = 20
"""


def _write(tmp_path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_and_a_custom_file_round_trip_through_toml(tmp_path):
    for config in (RunConfig(), RunConfig.from_toml(_write(tmp_path, CUSTOM))):
        assert RunConfig.from_dict(tomllib.loads(config.to_toml())) == config
        assert RunConfig.from_dict(config.to_dict()) == config
    custom = RunConfig.from_toml(tmp_path / "run.toml")
    assert custom.pager.pinned == ("avoid", "dock") and custom.source.frame_size_px == (320, 240)
    assert custom.rates.control_hz == 20.0 and custom.link.baudrate == 115200   # a default
    assert custom.encoder.static_grid == (24, 18)


@given(st.text(min_size=1).filter(str.strip))
def test_any_string_survives_the_toml_writer(text):
    config = RunConfig().with_overrides({"source.capture": text, "box": text})
    assert RunConfig.from_dict(tomllib.loads(config.to_toml())) == config


@pytest.mark.parametrize("data, message", [
    ({"pager": {"budget_bytes": 0}}, "pager.budget_bytes = 0: must be > 0"),
    ({"pager": {"budget_bytes": "64M"}}, 'pager.budget_bytes = "64M": must be an integer'),
    ({"pager": {"policy": "fifo"}}, 'pager.policy = "fifo": must be one of'),
    ({"pager": {"prefetch": True}}, "pager.prefetch = true: must be a string"),
    ({"pager": {"prefetch_warmth": 1.5}}, "pager.prefetch_warmth = 1.5: must be in (0, 1]"),
    ({"pager": {"pinned": ["a", "a"]}}, 'pager.pinned = ["a", "a"]: names \'a\' more than once'),
    ({"pager": {"retry_max_s": 1.0}}, "pager.retry_max_s = 1.0: must be >= retry_after_s"),
    ({"encoder": {"timesteps": 0}}, "encoder.timesteps = 0: must be >= 1"),
    ({"encoder": {"event_grid": [48]}}, "encoder.event_grid = [48]: must be a list of 2 integers"),
    ({"activator": {"backend": "loihi"}}, 'activator.backend = "loihi": must be one of "numpy"'),
    ({"source": {"capture": 0}}, "source.capture = 0: must be a string"),
    ({"source": {"capture": " "}}, 'source.capture = " ": must name a source'),
    ({"source": {"max_frame_age_ms": -5}}, "source.max_frame_age_ms = -5: must be > 0"),
    ({"source": {"frame_size_px": [40, 30]}, "encoder": {}},
     "source.frame_size_px = [40, 30]: is smaller than the 48x36 the encoder reads"),
    ({"arbiter": {"telemetry_max_age_ms": 0}}, "arbiter.telemetry_max_age_ms = 0: must be > 0"),
    ({"link": {"url": ""}}, 'link.url = "": must name a port'),
    ({"link": {"ack_timeout_ms": 0}}, "link.ack_timeout_ms = 0: must be > 0"),
    ({"link": {"baudrate": 9600.5}}, "link.baudrate = 9600.5: must be an integer"),
    ({"link": {"max_wheel_mm_s": 40000}}, "link.max_wheel_mm_s = 40000: must be <= 32767"),
    ({"rates": {"control_hz": 0}}, "rates.control_hz = 0.0: must be > 0"),
    ({"rates": {"frame_hz": float("nan")}}, "rates.frame_hz = nan: must be a finite number"),
    ({"seconds": -1}, "seconds = -1.0: must be > 0"),
    ({"seconds": 2, "frames": 10}, "frames = 10: cannot be set with seconds = 2.0"),
    ({"view": "yes"}, 'view = "yes": must be true or false'),
    ({"trusted_keys": "/etc/spikebox/owner.pub.pem"},
     'trusted_keys = "/etc/spikebox/owner.pub.pem": must be a list of strings'),
    ({"trusted_keys": ["a.pem", " "]}, 'trusted_keys = ["a.pem", " "]: must name public key'),
    ({"trusted_keys": ["a.pem", "a.pem"]},
     'trusted_keys = ["a.pem", "a.pem"]: names \'a.pem\' more than once'),
    ({"pager": 64}, "pager = 64: must be a table: [pager]"),
])
def test_every_refusal_names_its_key_path_and_value_never_a_flag(data, message):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(data)
    assert message in str(info.value)
    assert info.value.key == message.split(" = ")[0]
    assert "--" not in str(info.value)


@pytest.mark.parametrize("data, key, known", [
    ({"pager": {"budget": 5}}, "pager.budget", "did you mean budget_bytes? [pager] knows"),
    ({"link": {"baud": 9600}}, "link.baud", "[link] knows url, baudrate,"),
    ({"pagr": {"budget_bytes": 5}}, "pagr", "did you mean pager? the top level knows"),
    ({"rate_hz": 50}, "rate_hz", "the top level knows box, seconds,"),
])
def test_unknown_keys_are_refused_with_the_keys_that_exist(data, key, known):
    with pytest.raises(ConfigError, match="unknown key") as info:
        RunConfig.from_dict(data)
    assert info.value.key == key and known in str(info.value)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read it"):
        RunConfig.from_toml(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"bad\.toml: not a TOML file"):
        RunConfig.from_toml(_write(tmp_path, "[pager\nbudget_bytes = 1", "bad.toml"))
    with pytest.raises(ConfigError, match=r"zero\.toml: pager\.budget_bytes = 0"):
        RunConfig.from_toml(_write(tmp_path, "[pager]\nbudget_bytes = 0\n", "zero.toml"))


def test_overrides_by_key_path_and_none_unsets():
    config = RunConfig(frames=100).with_overrides({"seconds": 2.0, "frames": None,
                                                  "pager.budget_bytes": 5_000_000})
    assert (config.seconds, config.frames, config.pager.budget_bytes) == (2.0, None, 5_000_000)
    assert config.with_overrides({"encoder.timesteps": 8}).encoder.timesteps == 8
    with pytest.raises(ConfigError, match="pager.budget_byte = 1: unknown key"):
        config.with_overrides({"pager.budget_byte": 1})


# -- the command line ---------------------------------------------------------------------------

def _print_config(capsys, *argv) -> RunConfig:
    assert main(["run", *argv, "--print-config"]) == 0
    return RunConfig.from_dict(tomllib.loads(capsys.readouterr().out))


def test_print_config_parses_back_to_the_same_config(capsys, tmp_path):
    assert _print_config(capsys) == RunConfig()
    path = _write(tmp_path, CUSTOM)
    assert _print_config(capsys, "--config", str(path)) == RunConfig.from_toml(path)


def test_flags_win_over_the_file(capsys, tmp_path):
    path = _write(tmp_path, CUSTOM)
    shown = _print_config(capsys, "--config", str(path), "--serial", "loop://", "--budget-mb", "2.5",
                          "--source", "1", "--box", "skills.box", "--frames", "40",
                          "--report", "out", "--view")
    expected = dataclasses.replace(
        RunConfig.from_toml(path), box="skills.box", seconds=None, frames=40, report_dir="out",
        view=True)
    expected.link.url, expected.pager.budget_bytes, expected.source.capture = \
        "loop://", 2_500_000, "1"
    assert shown == expected
    assert shown.pager.policy == "lru" and shown.link.max_wheel_mm_s == 400   # the file's, kept


def test_a_bad_config_exits_2_naming_the_key_not_the_flag(capsys, tmp_path):
    assert main(["run", "--budget-mb", "-1"]) == BAD_CONFIG
    err = capsys.readouterr().err
    assert "pager.budget_bytes = -1000000: must be > 0" in err and "--budget-mb" not in err
    path = _write(tmp_path, "[rates]\ncontrol_hz = 0\n")
    assert main(["run", "--config", str(path)]) == BAD_CONFIG
    assert f"{path}: rates.control_hz = 0.0: must be > 0" in capsys.readouterr().err


def test_view_set_in_a_config_file_serves_the_live_page_on_its_port(capsys, tmp_path):
    path = _write(tmp_path, 'view = true\nview_port = 0\nseconds = 2.0\n')
    assert main(["run", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"live view on http://127\.0\.0\.1:[1-9][0-9]*/", err), err


def test_a_config_file_sets_the_daemon_rate_and_stop(capsys, tmp_path):
    path = _write(tmp_path, "frames = 12\n[rates]\ncontrol_hz = 10\nstatus_period_s = 0.5\n")
    t0 = time.monotonic()
    assert main(["run", "--config", str(path)]) == 0
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    assert "done (12 cycles done)" in err and "confirmed at zero by the MCU" in err
    assert elapsed >= 11 / 10                    # a lower bound only: the keeper never runs early
    assert len(re.findall(r"^t +[0-9.]+ s \|", err, re.M)) >= 2    # a status line every 0.5 s


# -- the documented examples stay true ----------------------------------------------------------

def test_the_annotated_example_is_the_defaults_and_names_every_key():
    path = REPO / "tools" / "spikebox.toml"
    assert RunConfig.from_toml(path) == RunConfig()
    text = path.read_text()
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert re.search(rf"^#? ?{f.name} = ", text, re.M), f"{name}.{f.name} is not in {path}"
    for f in dataclasses.fields(RunConfig):
        assert f.name in SECTIONS or re.search(rf"^#? ?{f.name} = ", text, re.M), f.name


def test_the_readme_example_config_loads():
    blocks = re.findall(r"```toml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert blocks, "README.md shows no run config"
    for block in blocks:
        RunConfig.from_dict(tomllib.loads(block))


# -- a library config names its fields; only the CLI speaks flags -------------------------------

@pytest.mark.parametrize("kwargs, key, flag_message", [
    (dict(int8_tolerance=0.0), "int8_tolerance", "--int8-tolerance 0.0: must be > 0"),
    (dict(force_int8=True), "force_int8", "--force-int8: is for int8, which is off"),
    (dict(calibration=Path("cal")), "calibration", "--calibration cal: is for int8"),
    (dict(int8=True), "calibration", "--calibration: is needed for int8 on a tensor expert"),
])
def test_export_add_options_name_fields_and_the_cli_says_flags(kwargs, key, flag_message,
                                                              tmp_path, capsys):
    from spikebox.export.box_edit import AddOptions
    with pytest.raises(ConfigError) as info:
        AddOptions(**kwargs)
    assert info.value.key == key and "--" not in str(info.value)
    flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}") for k, v in kwargs.items()]
    argv = ["export", "add", str(tmp_path / "box"), "x", "m.onnx", "--examples", str(tmp_path)]
    assert main(argv + flags) == 1
    assert flag_message in capsys.readouterr().err
