"""The reference firmware's own C tests (shared vectors, core behaviour on a fake clock,
random-byte robustness), built with AddressSanitizer and UBSan and run here."""
import re
import subprocess
from pathlib import Path

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


def test_receive_path_fuzz_finds_nothing():
    """The decoder and the core under ASan/UBSan on 200,000 mutations of the committed
    corpus (firmware/tests/fuzz_link.c): no memory error, no accepted non-frame, no
    motor moving while the core holds it. Two seeds; a failure names its seed."""
    binary = ensure_binary("fuzz_link")
    corpus = Path(__file__).resolve().parents[1] / "firmware_bridge/firmware/tests/corpus"
    for seed in (1, 2):
        out = subprocess.run([str(binary), str(corpus), "--runs", "100000", "--seed", str(seed)],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"seed {seed}: {out.stdout[-2000:]}{out.stderr[-4000:]}"
        assert re.search(r"fuzz_link: 100\d{3} inputs \(\d+ corpus files\), 0 crashes", out.stdout)
