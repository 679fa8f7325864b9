"""spikebox: a spiking activator pages small ONNX experts into a robot's RAM budget.

The package's parts live in the repository's top-level folders and import as
`spikebox.firmware_bridge` (serial link to the microcontroller),
`spikebox.runtime` (what runs on the robot) and `spikebox.export` (off-device).
"""
__version__ = "0.1.0"
