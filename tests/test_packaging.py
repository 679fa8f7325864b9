"""The wheel holds every package of the tree and every file the firmware build needs.

Built from the files git tracks (copied to a temporary folder), offline, with
the venv's own setuptools: a package that setup.py's discovery missed, or a
file left out of package-data, fails here instead of on a robot that
installed the wheel.
"""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"spikebox": "spikebox", "spikebox/firmware_bridge": "firmware_bridge",
         "spikebox/runtime": "runtime", "spikebox/export": "export"}


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.split()
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file()
            and not any(part.startswith(".") or part == "build" for part in p.parts)]


def test_the_wheel_holds_every_package_and_the_firmware_sources(tmp_path):
    src = tmp_path / "src"
    tracked = _tracked_files()
    for rel in tracked:
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"),
                          str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    wheel, = (tmp_path / "dist").glob("spikebox-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    expected_packages = {f"{target}/{Path(rel).parent.relative_to(folder)}".rstrip("/.")
                         for target, folder in ROOTS.items()
                         for rel in tracked if rel.startswith(folder + "/")
                         and rel.endswith("__init__.py")}
    assert len(expected_packages) >= 9
    missing = sorted(p for p in expected_packages if f"{p}/__init__.py" not in names)
    assert not missing, f"packages missing from the wheel (setup.py discovery): {missing}"

    modules = {f"{target}/{Path(rel).relative_to(folder)}" for target, folder in ROOTS.items()
               for rel in tracked if rel.startswith(folder + "/") and rel.endswith(".py")}
    assert not modules - names, f"modules missing from the wheel: {sorted(modules - names)}"

    firmware = {f"spikebox/{rel}" for rel in tracked if rel.startswith("firmware_bridge/firmware/")
                and rel.endswith((".c", ".h", "Makefile", ".ino"))}
    firmware |= {"spikebox/firmware_bridge/PROTOCOL.md",
                 "spikebox/firmware_bridge/vectors/frames.txt"}
    assert not firmware - names, f"firmware files missing: {sorted(firmware - names)}"
