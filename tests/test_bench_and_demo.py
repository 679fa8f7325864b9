"""`spikebox bench bridge --json` and `spikebox run` end to end, as a user runs them."""
import json
import re
import subprocess
import sys

import pytest

KEYS = {"rtt_ms_p50", "rtt_ms_p99", "frames_sent", "fault_rate", "corrupt_frames_accepted",
        "resync_frames_max", "watchdog_stop_ms", "reconnect_ms"}


def test_bench_bridge_prints_one_json_object_with_the_issue_keys():
    out = subprocess.run([sys.executable, "-m", "spikebox", "bench", "bridge", "--json",
                          "--drives", "200", "--trials", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr          # 1 = a target missed on a busy machine
    result = json.loads(out.stdout)
    assert KEYS <= result.keys()
    assert result["frames_sent"] >= 200 and result["drives_echoed"] == 200
    assert result["corrupt_frames_accepted"] == 0 and result["resync_frames_max"] <= 1
    assert result["watchdog_stop_ms"] >= 200             # never early, on the firmware's clock
    assert result["reconnect_ms"] is not None and result["reconnects"] == 2
    assert 0 < result["rtt_ms_p50"] <= result["rtt_ms_p99"]


def test_run_demo_drives_the_sim_through_the_firmware_and_says_what_it_did():
    out = subprocess.run([sys.executable, "-m", "spikebox", "run", "--seconds", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    err = out.stderr
    assert "source sim" in err and "done (3 s done)" in err, err
    assert "link up" in err and "confirmed at zero by the MCU" in err
    frames = int(re.search(r"done \(3 s done\): (\d+) frames", err).group(1))
    assert frames >= 20                           # ~30 fps asked for; a loaded machine gives less


ACTIVATOR_KEYS = {"inputs", "units", "timesteps", "encode_ms_per_frame", "numpy_ms_per_frame",
                  "lava_ms_per_frame", "speedup", "bit_exact", "synops_per_frame",
                  "loihi_uj_per_frame"}


def test_bench_activator_prints_one_json_object_with_the_issue_keys():
    out = subprocess.run([sys.executable, "-m", "spikebox", "bench", "activator", "--json",
                          "--activator-frames", "3"], capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    result = json.loads(out.stdout)
    assert ACTIVATOR_KEYS <= result.keys()
    assert result["bit_exact"] is True
    assert result["inputs"] >= 4000 and result["units"] == 64 and result["timesteps"] == 16
    assert result["synops_per_frame"] > 0 and result["loihi_uj_per_frame"] > 0
    assert result["speedup"] == result["lava_ms_per_frame"] / result["numpy_ms_per_frame"]
    # issue #11: at 16, 256, 1024 experts, bit-exact with Lava, one byte a synapse held
    assert set(result["scale"]) == {"16", "256", "1024"}
    for size, row in result["scale"].items():
        assert row["bit_exact"] is True and row["path"] == "kernel", size
        assert row["units"] == 4 * int(size) and row["ms_per_frame"] > 0
        synapses = row["units"] * result["inputs"]
        assert synapses <= row["activator_bytes"] < 1.05 * synapses + 100_000, size


PAGER_KEYS = {"naive_load_ms", "pagein_ms", "load_speedup", "budget_fraction", "hit_rate",
              "lru_hit_rate", "belady_hit_rate", "prefetch_recall", "stalled_requests",
              "rss_growth_pct_500_cycles", "peak_rss_mb", "budget_mb"}


def test_bench_pager_reports_the_issue_keys():
    """The composition `spikebox bench pager` prints, on a small box so it stays quick."""
    from spikebox.export.testmodels import write_bench_sources
    from spikebox.runtime.bench.pager import run_pager_bench
    r = run_pager_bench(write_bench_sources, load_sizes_mb=(2,), load_repeats=3, progress=False,
                        n_experts=4, n_frames=300, weight_mb=(0.5, 2.0), real_frames=20)
    assert PAGER_KEYS <= r.keys()
    # page-ins from shells where the platform allows them (Linux): the same session, weights mapped
    assert r["pagein_from"] == "shell" and r["load_speedup_new"] > 0
    assert r["real_run"]["pageins_from_shell"] <= r["real_run"]["pageins"]
    assert r["budget_fraction"] == 0.25 and 0 < r["budget_mb"] < r["box_mb"]
    assert 0 <= r["lru_hit_rate"] <= 1 and 0 <= r["hit_rate"] <= 1
    assert r["load_speedup"] == pytest.approx(r["naive_load_ms"] / r["pagein_ms"], rel=0.01)
    assert isinstance(r["targets_met"], bool)


FAULT_KEYS = {"estop_sequences", "estop_violations", "tamper_cases", "tamper_accepted",
              "outside_paths_touched", "decoder_fuzz_inputs", "decoder_crashes",
              "lava_open_close_cycles", "threads_leaked", "shm_segments_leaked",
              "oversized_model_refused", "peak_rss_mb_oversized_model"}


def test_bench_faults_prints_the_issue_keys_and_says_what_it_did_not_measure():
    out = subprocess.run([sys.executable, "-m", "spikebox", "bench", "faults", "--json",
                          "--estop-sequences", "60", "--fuzz-inputs", "20000",
                          "--lava-cycles", "2"], capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stderr
    r = json.loads(out.stdout)
    assert FAULT_KEYS <= r.keys()
    assert r["estop_sequences"] == 60 and r["estop_violations"] == 0
    assert r["estop_events_judged"] > 60
    assert r["decoder_fuzz_inputs"] >= 20000 and r["decoder_crashes"] == 0
    assert r["lava_open_close_cycles"] == 2 and r["threads_leaked"] == 0
    assert r["shm_segments_leaked"] == 0
    assert r["tamper_cases"] >= 13 and r["tamper_accepted"] == 0
    assert r["outside_paths_touched"] == 0
    assert r["oversized_model_refused"] is True and 0 < r["peak_rss_mb_oversized_model"] < 4096
    for key in [k for k in FAULT_KEYS if r[k] is None]:
        assert key in r["not_measured"], f"{key} is null without a reason"
    assert r["targets_met"] is False          # 60 < 10,000 sequences: a small run says so
