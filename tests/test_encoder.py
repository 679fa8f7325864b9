"""The encoder stage: frames drawn here with numpy/cv2 in, spikes out.

Event counts are checked against the v2e rule the encoder documents
(k = floor(|log(I + eps) − ref| / threshold), capped at T), positions against
where the drawn bar actually moved, and the static code against the value it
encodes. No wall-clock bound is asserted; `bench_encoder` is only run for shape.
"""
import math

import cv2
import numpy as np
import pytest

from spikebox.runtime.bench.encoder import bench_encoder
from spikebox.runtime.encoder import GROUPS, Encoder, EncoderConfig

T = 16
THR = 0.15
EPS = 8.0


def uniform(value, size=(192, 144)):
    w, h = size
    return np.full((h, w, 3), value, dtype=np.uint8)


def groups(spikes, encoder):
    """Per-group spike counts over time, reshaped to each group's (height, width) grid."""
    out = {}
    for name, sl in encoder.channel_slices.items():
        w, h = encoder.channel_grids[name]
        out[name] = spikes[:, sl].sum(axis=0).reshape(h, w)
    return out


def events(spikes, encoder):
    return spikes[:, :encoder.channel_slices["event_off"].stop]


def coloured_scene(size=(160, 120), seed=3):
    w, h = size
    rng = np.random.default_rng(seed)
    f = cv2.resize(rng.integers(30, 230, (6, 8, 3), dtype=np.uint8), (w, h),
                   interpolation=cv2.INTER_NEAREST)
    cv2.circle(f, (w // 3, h // 2), h // 5, (20, 200, 240), -1)
    cv2.line(f, (0, h - 10), (w - 1, 10), (250, 250, 250), 3)
    return f


# -- shape, channel layout, config -------------------------------------------------------

def test_default_shape_dtype_and_channel_layout():
    enc = Encoder()
    assert enc.n_inputs == 48 * 36 * 2 + 24 * 18 * 4 == 5184
    spikes = enc.encode(coloured_scene())
    assert spikes.shape == (T, 5184) and spikes.dtype == np.bool_
    slices = enc.channel_slices
    assert list(slices) == list(GROUPS)
    edges = [0] + [s.stop for s in slices.values()]
    assert [s.start for s in slices.values()] == edges[:-1]   # contiguous, in order, from 0
    assert edges[-1] == enc.n_inputs
    for name, sl in slices.items():
        w, h = enc.channel_grids[name]
        assert sl.stop - sl.start == w * h


@pytest.mark.parametrize("cfg", [
    dict(timesteps=4, event_grid=(10, 8), static_grid=(5, 4)),
    dict(timesteps=32, event_grid=(64, 48), static_grid=(16, 12)),
    dict(timesteps=1, event_grid=(7, 3), static_grid=(9, 2)),    # static finer than events
])
def test_n_inputs_matches_config(cfg):
    enc = Encoder(EncoderConfig(**cfg))
    (ew, eh), (sw, sh) = cfg["event_grid"], cfg["static_grid"]
    assert enc.n_inputs == 2 * ew * eh + 4 * sw * sh
    spikes = enc.encode(coloured_scene((160, 120)))
    assert spikes.shape == (cfg["timesteps"], enc.n_inputs) and spikes.dtype == np.bool_


def test_config_accepts_lists_from_toml():
    cfg = EncoderConfig(event_grid=[32, 24], static_grid=[16, 12])
    assert cfg.event_grid == (32, 24) and cfg.static_grid == (16, 12)


@pytest.mark.parametrize("kwargs, field", [
    (dict(timesteps=0), "timesteps"), (dict(timesteps=2.5), "timesteps"),
    (dict(timesteps=True), "timesteps"),
    (dict(event_grid=(0, 36)), "event_grid"), (dict(event_grid=(48,)), "event_grid"),
    (dict(event_grid=(48.0, 36)), "event_grid"), (dict(static_grid=(24, -1)), "static_grid"),
    (dict(static_grid="24x18"), "static_grid"),
    (dict(event_threshold=0), "event_threshold"), (dict(event_threshold=-0.1), "event_threshold"),
    (dict(event_threshold=float("nan")), "event_threshold"),
    (dict(static_max_rate=0), "static_max_rate"), (dict(static_max_rate=1.5), "static_max_rate"),
    (dict(edge_scale=0), "edge_scale"), (dict(log_eps=-1), "log_eps"),
    (dict(seed=-1), "seed"),
])
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        EncoderConfig(**kwargs)


def test_config_max_rate_one_is_allowed():
    spikes = Encoder(EncoderConfig(static_max_rate=1.0)).encode(uniform(255))
    enc = Encoder()
    assert spikes[:, enc.channel_slices["static_r"]].all()    # rate 1: every timestep


# -- event channel -----------------------------------------------------------------------

def test_first_frame_only_sets_references_and_reset_forgets_them():
    enc = Encoder()
    first = enc.encode(coloured_scene())
    assert not events(first, enc).any()
    assert first[:, enc.channel_slices["static_b"].start:].any()
    assert events(enc.encode(uniform(250, (160, 120))), enc).any()
    enc.reset()
    assert not events(enc.encode(uniform(5, (160, 120))), enc).any()


def test_still_scene_goes_quiet_but_static_channel_speaks():
    rng = np.random.default_rng(0)
    scene = coloured_scene().astype(float)
    enc = Encoder()
    enc.encode(scene.astype(np.uint8))
    for _ in range(5):
        noisy = np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)
        spikes = enc.encode(noisy)              # sensor noise of 2 grey levels: no events
        assert not events(spikes, enc).any()
        assert spikes[:, enc.channel_slices["static_b"].start:].sum() > 1000


def test_brighter_gives_on_darker_gives_off_with_v2e_counts_evenly_spread():
    enc = Encoder()
    enc.encode(uniform(100))
    on_off = enc.channel_slices["event_on"], enc.channel_slices["event_off"]

    spikes = enc.encode(uniform(150))
    k_up = math.floor(math.log((150 + EPS) / (100 + EPS)) / THR)
    assert k_up == 2
    on, off = spikes[:, on_off[0]], spikes[:, on_off[1]]
    assert not off.any()
    assert (on.sum(axis=0) == k_up).all()
    assert np.flatnonzero(on[:, 0]).tolist() == [4, 12]          # (i + 0.5) * T / k

    ref = math.log(100 + EPS) + k_up * THR                         # moved k·threshold, not to log I
    spikes = enc.encode(uniform(60))
    k_down = math.floor((ref - math.log(60 + EPS)) / THR)
    assert k_down == 5
    on, off = spikes[:, on_off[0]], spikes[:, on_off[1]]
    assert not on.any()
    assert (off.sum(axis=0) == k_down).all()
    assert np.flatnonzero(off[:, 0]).tolist() == [1, 4, 8, 11, 14]


def test_even_spreading_for_every_count():
    """Uniform steps giving k = 0..T events: k distinct timesteps, gaps differing by at most 1."""
    for k in range(T + 1):
        enc = Encoder()
        enc.encode(uniform(40))
        target = (40 + EPS) * math.exp((k + 0.5) * THR) - EPS   # mid-way between thresholds
        if target > 255:
            break
        on = enc.encode(uniform(round(target)))[:, 0]
        times = np.flatnonzero(on)
        assert len(times) == k
        if k > 1:
            gaps = np.diff(np.concatenate([times, [times[0] + T]]))
            assert gaps.max() - gaps.min() <= 1


def test_big_step_is_capped_at_T_and_keeps_speaking_next_frames():
    enc = Encoder()
    enc.encode(uniform(10))
    total = math.log((250 + EPS) / (10 + EPS))                    # 2.66: 17 thresholds
    counts = [groups(enc.encode(uniform(250)), enc)["event_on"] for _ in range(3)]
    assert (counts[0] == T).all()                                  # capped
    assert (counts[1] == math.floor(total / THR) - T).all()        # the rest, one frame later
    assert (counts[2] == 0).all()                                  # caught up: quiet


def test_bar_moving_right_on_at_leading_edge_off_at_trailing():
    # 192x144 frame on a 48x36 grid: 4x4 pixels per cell, so cells are easy to name.
    def bar(x0):
        f = uniform(30)
        f[36:108, x0:x0 + 20] = 220                                # rows 9..26, 5 cells wide
        return f

    enc = Encoder()
    enc.encode(bar(40))                                            # cells 10..14
    g = groups(enc.encode(bar(48)), enc)                           # cells 12..16
    on_rows, on_cols = np.nonzero(g["event_on"])
    off_rows, off_cols = np.nonzero(g["event_off"])
    assert set(on_cols) == {15, 16} and set(off_cols) == {10, 11}
    assert set(on_rows) == set(off_rows) == set(range(9, 27))
    k = math.floor(math.log((220 + EPS) / (30 + EPS)) / THR)
    assert (g["event_on"][9:27, 15:17] == k).all() and (g["event_off"][9:27, 10:12] == k).all()


def test_bar_moving_over_frames_at_odd_size():
    """160x120 (cells of 3.33 px): ON stays just ahead of the bar, OFF just behind, every frame."""
    enc = Encoder()
    cell_w = 160 / 48
    for i, x0 in enumerate(range(20, 120, 6)):
        f = uniform(40, (160, 120))
        cv2.rectangle(f, (x0, 30), (x0 + 15, 90), (200, 200, 200), -1)
        g = groups(enc.encode(f), enc)
        if i == 0:
            continue
        on_cols = np.nonzero(g["event_on"])[1]
        off_cols = np.nonzero(g["event_off"])[1]
        assert on_cols.size and off_cols.size
        # Leading edge moved from x0 + 10 to x0 + 16, trailing from x0 - 6 to x0.
        assert on_cols.min() >= math.floor((x0 + 10) / cell_w)
        assert on_cols.max() <= math.floor((x0 + 16) / cell_w)
        assert off_cols.min() >= math.floor((x0 - 6) / cell_w)
        assert off_cols.max() <= math.floor(x0 / cell_w)


def test_slow_ramp_keeps_speaking_and_reference_converges():
    enc = Encoder()
    start = 20
    # 0.05 log units a frame: a third of a threshold, so no single frame alone would speak.
    levels = [round((start + EPS) * math.exp(0.05 * n) - EPS) for n in range(40)]
    enc.encode(uniform(levels[0]))
    per_frame = []
    for level in levels[1:]:
        g = groups(enc.encode(uniform(level)), enc)
        assert (g["event_off"] == 0).all()
        assert (g["event_on"] == g["event_on"][0, 0]).all()        # uniform scene, uniform answer
        per_frame.append(int(g["event_on"][0, 0]))
    assert max(per_frame) == 1
    assert sum(1 for n in per_frame if n) >= 10                     # spoke over many frames
    total = math.log((levels[-1] + EPS) / (levels[0] + EPS))
    assert sum(per_frame) == math.floor(total / THR)                # ref within one step of log I
    for _ in range(3):                                              # ramp over: quiet again
        assert not events(enc.encode(uniform(levels[-1])), enc).any()


def test_flicker_between_two_scenes_never_drifts():
    """A, B, A, B, …: every B brings the same ON/OFF pattern and every A undoes it exactly."""
    a = coloured_scene(seed=1)
    b = coloured_scene(seed=2)
    enc = Encoder()
    enc.encode(a)
    to_b = enc.encode(b)
    to_a = enc.encode(a)
    on, off = enc.channel_slices["event_on"], enc.channel_slices["event_off"]
    assert to_b.any()
    assert np.array_equal(to_b[:, on].sum(0), to_a[:, off].sum(0))
    assert np.array_equal(to_b[:, off].sum(0), to_a[:, on].sum(0))
    for _ in range(20):
        assert np.array_equal(enc.encode(b), to_b)
        assert np.array_equal(enc.encode(a), to_a)
    assert not events(enc.encode(a), enc).any()


def test_frame_sizes_may_change_between_frames():
    enc = Encoder()
    for size in [(160, 120), (640, 480), (200, 100), (48, 36), (1280, 720), (161, 121)]:
        spikes = enc.encode(uniform(120, size))
        assert spikes.shape == (T, enc.n_inputs)
        assert not events(spikes, enc).any()       # same scene at another size: no events


def test_same_scene_at_two_sizes_reads_alike():
    small = coloured_scene((160, 120))
    big = cv2.resize(small, (640, 480), interpolation=cv2.INTER_NEAREST)
    enc = Encoder()
    a = enc.encode(small)
    b = enc.encode(big)
    assert events(b, enc).sum() < 0.01 * events(b, enc).size
    static = enc.channel_slices["static_b"].start
    assert abs(int(a[:, static:].sum()) - int(b[:, static:].sum())) < 0.03 * a[:, static:].sum()


def test_noise_frames_give_bounded_bool_spikes():
    rng = np.random.default_rng(7)
    enc = Encoder()
    for i in range(5):
        spikes = enc.encode(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
        assert spikes.dtype == np.bool_ and spikes.shape == (T, enc.n_inputs)
        if i:
            g = groups(spikes, enc)
            assert g["event_on"].any() and g["event_off"].any()
            assert not (g["event_on"] & g["event_off"]).any()      # one polarity per cell per frame


def test_black_frames_stay_finite():
    enc = Encoder()
    enc.encode(uniform(0))
    g = groups(enc.encode(uniform(255)), enc)
    assert (g["event_on"] == T).all()                              # log(0 + eps) is finite
    assert not enc.encode(uniform(0))[:, enc.channel_slices["static_b"]].any()


# -- static channel ----------------------------------------------------------------------

def test_static_colour_counts_are_value_times_T_times_rate():
    enc = Encoder()
    f = uniform(0)
    f[..., 1], f[..., 2] = 128, 255                                # B=0, G=128, R=255
    g = groups(enc.encode(f), enc)
    assert (g["static_b"] == 0).all()
    assert (g["static_r"] == T * 0.5).all()
    expected_g = 128 / 255 * T * 0.5
    assert set(np.unique(g["static_g"])) <= {math.floor(expected_g), math.ceil(expected_g)}
    assert (g["edges"] == 0).all()                                 # uniform: no edges


def test_static_count_tracks_value_monotonically():
    enc = Encoder()
    previous = None
    for value in range(0, 256, 5):
        counts = groups(enc.encode(uniform(value)), enc)["static_g"]
        assert np.abs(counts - value / 255 * T * 0.5).max() < 1
        if previous is not None:
            assert (counts >= previous).all()                      # per channel, never down
        previous = counts
    assert previous.mean() == T * 0.5


def test_static_phases_spread_channels_over_timesteps():
    enc = Encoder()
    spikes = enc.encode(uniform(128))                              # ≈ 0.25 spikes per timestep
    green = spikes[:, enc.channel_slices["static_g"]]
    per_timestep = green.sum(axis=1)
    assert per_timestep.min() > 0                                  # every timestep used
    assert per_timestep.max() < 0.5 * green.shape[1]               # never all channels at once


def test_dark_scene_has_fewer_static_spikes_than_bright_one():
    bright = coloured_scene()
    dark = (bright.astype(np.float32) * 0.25).astype(np.uint8)
    b, d = groups(Encoder().encode(bright), Encoder()), groups(Encoder().encode(dark), Encoder())
    for name in ("static_b", "static_g", "static_r", "edges"):
        assert d[name].sum() < 0.5 * b[name].sum(), name
    assert b["edges"].sum() > 50


def test_edge_energy_marks_the_edge_cells_with_a_fixed_scale():
    enc = Encoder()
    # 192x144 frame, 24x18 static grid: 8 px cells; a vertical step in the middle of column 12.
    full = uniform(0)
    full[:, 100:] = 255
    half = uniform(0)
    half[:, 100:] = 64
    e_full = groups(enc.encode(full), enc)["edges"]
    e_half = groups(enc.encode(half), enc)["edges"]
    assert set(np.nonzero(e_full)[1]) == {12}
    assert (e_full[:, 12] == T * 0.5).all()                        # full contrast: saturated
    assert set(np.nonzero(e_half)[1]) == {12}
    assert 0 < e_half[:, 12].max() < e_full[:, 12].min()           # quarter contrast: fewer


# -- determinism, grey frames, sequences ---------------------------------------------------

def test_deterministic_and_seed_only_moves_phases():
    rng = np.random.default_rng(11)
    frames = [coloured_scene(seed=s) for s in range(3)]
    frames += [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(2)]
    a = Encoder().encode_sequence(frames)
    b = Encoder().encode_sequence(frames)
    assert np.array_equal(a, b)
    c = Encoder(EncoderConfig(seed=5)).encode_sequence(frames)
    n_event = Encoder().channel_slices["event_off"].stop
    assert np.array_equal(a[:, :, :n_event], c[:, :, :n_event])
    assert not np.array_equal(a[:, :, n_event:], c[:, :, n_event:])
    assert np.abs(a[:, :, n_event:].sum(axis=1).astype(int)
                  - c[:, :, n_event:].sum(axis=1)).max() <= 1      # same rates


def test_encode_sequence_equals_encode_in_turn():
    frames = [coloured_scene(seed=s) for s in range(4)]
    seq = Encoder().encode_sequence(frames)
    enc = Encoder()
    assert seq.shape == (4, T, enc.n_inputs)
    assert np.array_equal(seq, np.stack([enc.encode(f) for f in frames]))
    assert Encoder().encode_sequence([]).shape == (0, T, enc.n_inputs)


def test_grey_frame_reads_as_equal_bgr():
    grey = cv2.cvtColor(coloured_scene(), cv2.COLOR_BGR2GRAY)
    bgr = np.repeat(grey[..., None], 3, axis=2)
    enc_a, enc_b = Encoder(), Encoder()
    for shift in (0, 7):
        a = enc_a.encode(np.roll(grey, shift, axis=1))
        b = enc_b.encode(np.roll(bgr, shift, axis=1))
        assert np.array_equal(a, b)


def test_non_contiguous_frame_view_is_fine():
    f = coloured_scene((320, 240))
    view = f[::2, ::-2]
    enc = Encoder()
    assert np.array_equal(enc.encode(view), Encoder().encode(np.ascontiguousarray(view)))


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("frame, message", [
    ([[0, 0], [0, 0]], "got list"),
    (None, "got NoneType"),
    (np.zeros(100, np.uint8), r"got shape \(100,\)"),
    (np.zeros((2, 120, 160, 3), np.uint8), r"got shape \(2, 120, 160, 3\)"),
    (np.zeros((120, 160, 4), np.uint8), "BGRA"),
    (np.zeros((120, 160, 1), np.uint8), r"frame\[\.\.\., 0\]"),
    (np.zeros((120, 160, 2), np.uint8), r"got shape \(120, 160, 2\)"),
    (np.zeros((120, 160, 3), np.float32), "got dtype float32"),
    (np.zeros((120, 160, 3), np.float64), "got dtype float64"),
    (np.zeros((120, 160, 3), np.uint16), "got dtype uint16"),
    (np.zeros((120, 160, 3), bool), "got dtype bool"),
    (np.zeros((0, 0, 3), np.uint8), "empty frame"),
    (np.zeros((120, 0, 3), np.uint8), "empty frame"),
    (np.zeros((30, 40, 3), np.uint8), "40x30 pixels is smaller than the 48x36 grid"),
    (np.zeros((120, 47), np.uint8), "47x120 pixels is smaller"),
])
def test_bad_frames_raise_value_error_saying_what_was_expected(frame, message):
    enc = Encoder()
    with pytest.raises(ValueError, match=message) as info:
        enc.encode(frame)
    if "smaller" not in message:
        assert "uint8 numpy array of shape (height, width, 3)" in str(info.value)


def test_bad_frame_does_not_disturb_the_references():
    enc = Encoder()
    enc.encode(uniform(100))
    with pytest.raises(ValueError):
        enc.encode(uniform(100).astype(np.float32))
    assert not events(enc.encode(uniform(100)), enc).any()


def test_bench_encoder_reports_its_keys():
    result = bench_encoder(n_frames=20, size=(160, 120))
    assert result["inputs"] == 5184 and result["timesteps"] == T
    assert result["encode_ms_per_frame"] > 0


def test_encoder_keeps_its_own_copy_of_the_config():
    cfg = EncoderConfig()
    enc = Encoder(cfg)
    cfg.timesteps = 4
    assert enc.encode(uniform(100)).shape == (T, 5184)


# -- static_features = "cues" -------------------------------------------------------------

def cues(**kw):
    return Encoder(EncoderConfig(static_features="cues", **kw))


def test_cues_layout_and_old_boxes_keep_bgr():
    from spikebox.runtime.encoder import CUE_GROUPS
    enc = cues()
    assert list(enc.channel_slices) == list(CUE_GROUPS)
    assert enc.n_inputs == 48 * 36 * 2 + 24 * 18 * 9
    # A box written before the field existed has no static_features key: it reads as bgr.
    assert EncoderConfig().static_features == "bgr"
    with pytest.raises(ValueError, match="static_features"):
        EncoderConfig(static_features="hsv")


def test_cues_grey_scene_is_silent_in_colour_and_contrast():
    """A uniform grey (or any unsaturated) frame drives no hue map and no contrast map: the
    floor and walls cost no spikes, whatever their brightness or a slight tint."""
    for frame in (uniform(128), uniform(40), np.full((144, 192, 3), (120, 128, 136), np.uint8)):
        g = groups(cues().encode(frame), cues())
        for name in g:
            if name.startswith("hue_") or name in ("dark", "light"):
                assert g[name].sum() == 0, name


@pytest.mark.parametrize("bgr,hue", [((0, 0, 230), "red"), ((0, 220, 220), "yellow"),
                                     ((0, 200, 0), "green"), ((220, 220, 0), "cyan"),
                                     ((230, 0, 0), "blue"), ((220, 0, 220), "magenta")])
def test_cues_saturated_patch_speaks_in_its_hue_map_where_it_is(bgr, hue):
    frame = uniform(128, (160, 120))
    frame[60:120, 0:40] = bgr                     # bottom-left quarter-ish
    enc = cues()
    g = groups(enc.encode(frame), enc)
    patch = g[f"hue_{hue}"]
    assert patch[9:, :6].sum() > 0                # under the patch (static grid 24x18)
    assert patch[:7, 8:].sum() == 0               # nowhere near it
    others = {n: g[n].sum() for n in g if n.startswith("hue_") and n != f"hue_{hue}"}
    assert patch.sum() > 2 * max(others.values())


def test_cues_dark_and_light_follow_local_contrast():
    enc = cues()
    frame = uniform(140, (160, 120))
    frame[:, 20:26] = 40                          # a dark stripe, like the line on the floor
    g = groups(enc.encode(frame), enc)
    dark_cols = g["dark"].sum(axis=0)
    assert dark_cols[3:5].sum() > 0 and dark_cols[8:].sum() == 0
    assert g["light"][:, 8:].sum() == 0           # beside a dark stripe is not "lighter"
    frame = uniform(140, (160, 120))              # ... than a surround it is part of
    frame[10:30, 120:140] = 250                   # a bright patch
    g = groups(enc.encode(frame), enc)
    assert g["light"][1:5, 17:22].sum() > 0 and g["light"][:, :12].sum() == 0
    assert g["dark"][:, :12].sum() == 0


def test_cues_grey_frame_input_is_accepted():
    frame = np.full((120, 160), 128, np.uint8)
    frame[40:80, 40:80] = 20
    enc = cues()
    g = groups(enc.encode(frame), enc)
    assert all(g[n].sum() == 0 for n in g if n.startswith("hue_"))
    assert g["dark"].sum() > 0
