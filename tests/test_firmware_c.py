"""The reference firmware's own C tests (shared vectors, core behaviour on a fake clock,
random-byte robustness), built with AddressSanitizer and UBSan and run here."""
import re
import subprocess

from spikebox.firmware_bridge.vectors import VECTORS_PATH
from spikebox.firmware_bridge.virtual_mcu import ensure_binary


def test_c_suite_passes_on_the_shared_vectors():
    binary = ensure_binary("test_firmware")
    out = subprocess.run([str(binary), str(VECTORS_PATH)], capture_output=True, text=True,
                         timeout=600)
    summary = re.search(r"^(\d+) passed, (\d+) failed$", out.stdout, re.M)
    assert summary, out.stdout[-2000:] + out.stderr[-2000:]
    passed, failed = map(int, summary.groups())
    assert out.returncode == 0 and failed == 0, out.stdout[-4000:] + out.stderr[-2000:]
    # every vector in the file was checked by the C side
    n_vectors = sum(1 for line in VECTORS_PATH.read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    assert passed >= n_vectors
