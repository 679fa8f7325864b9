"""The `spikebox` command: every help opens with an example; unbuilt parts say so and fail."""
import subprocess
import sys

import pytest

from spikebox.cli import build_parser, main


def _spikebox(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "spikebox", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("cmd", [[], ["run"], ["export"], ["inspect"], ["bench"]])
def test_every_help_opens_with_an_example(cmd):
    out = _spikebox(*cmd, "--help")
    assert out.returncode == 0
    description = out.stdout.split("\n\n", 1)[1]
    assert description.startswith("example:  spikebox"), out.stdout


def test_run_on_a_folder_that_is_no_box_names_it_and_the_fix(capsys, tmp_path):
    assert main(["run", "--box", str(tmp_path / "mybox"), "--seconds", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'mybox'} is not a box" in err and "spikebox export init" in err


def test_run_on_a_camera_that_is_not_there_says_so(capsys):
    assert main(["run", "--source", "/dev/video97", "--seconds", "1"]) == 1
    assert "/dev/video97" in capsys.readouterr().err


def test_console_script_is_installed():
    import shutil
    exe = shutil.which("spikebox", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the spikebox console script is missing from the venv"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("spikebox ")


def test_parser_names_the_design_surface():
    p = build_parser()
    run = p.parse_args(["run", "--serial", "loop://", "--seconds", "1"])
    assert (run.serial, run.seconds) == ("loop://", 1.0)
    assert p.parse_args(["run"]).serial is None          # unset: the run config's link.url ...
    from spikebox.runtime.daemon import RunConfig
    assert RunConfig().link.url == "virtual"              # ... whose default is the virtual MCU
    assert p.parse_args(["run", "--config", "r.toml", "--print-config"]).print_config
