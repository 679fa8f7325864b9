"""Package discovery for one import root, spikebox.*, over the design card's folders.

Everything else about the package is in pyproject.toml. setuptools' own
discovery cannot map several top-level folders under one name, so the
folders are listed here once and every package below each is found.
"""
from setuptools import Extension, find_packages, setup

ROOTS = {  # import name -> folder
    "spikebox": "spikebox",
    "spikebox.firmware_bridge": "firmware_bridge",
    "spikebox.runtime": "runtime",
    "spikebox.export": "export",
}

packages = [sub for name, folder in ROOTS.items()
            for sub in [name] + [f"{name}.{p}" for p in find_packages(folder)]]

# The reference firmware ships as source: the virtual MCU and libsbcore are
# built on the machine that runs them (firmware_bridge/virtual_mcu.py).
PACKAGE_DATA = {"spikebox.firmware_bridge": [
    "PROTOCOL.md", "vectors/*.txt",
    "firmware/Makefile", "firmware/*.c", "firmware/*.h", "firmware/host/*.[ch]",
    "firmware/tests/*.[ch]", "firmware/tests/corpus/*.bin", "firmware/arduino/*/*.ino",
    "firmware/README.md",
]}

# The activator's frame kernel (runtime/activator/kernel.py loads it with ctypes). Optional:
# where it cannot be compiled the numpy path runs instead, bit-exact, slower at scale.
FRAME_KERNEL = Extension("spikebox.runtime.activator._frame_kernel",
                         ["runtime/activator/_frame_kernel.c"],
                         extra_compile_args=["-O3", "-std=gnu11"], optional=True)

setup(packages=packages, package_dir=ROOTS, package_data=PACKAGE_DATA, ext_modules=[FRAME_KERNEL])
