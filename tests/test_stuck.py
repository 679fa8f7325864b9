"""The stuck guard (runtime/arbiter/stuck.py): a robot turning this way and that on one spot for
long drives out toward the most room its range sensor read; one holding still on purpose, a
blind one, or one with no pose is left alone. A made-up robot moved by the guard's own wheels."""
import math

from spikebox.runtime.arbiter.decide import Decision
from spikebox.runtime.arbiter.odometry import Pose
from spikebox.runtime.arbiter.stuck import ESCAPE_MM, STUCK, StuckGuard
from spikebox.runtime.daemon.config import ArbiterConfig

DT = 0.05
ROOM = 2.0             # rad: the one heading with room; elsewhere a board 50 mm away


def _range(heading: float) -> float:
    return 1500.0 if abs(math.remainder(heading - ROOM, 2 * math.pi)) < 0.3 else 50.0


def _drive(guard, seconds, decide, t0=0.0, pose=Pose(0.0, 0.0, 0.0), wheelbase=150.0,
           rng=_range):
    """Each cycle: `decide(t, pose)` is what the arbiter and the others would send; the guard's
    decision moves the robot. The decisions sent and the last pose."""
    sent, t = [], t0
    while t < t0 + seconds:
        d = guard.step(t, decide(t, pose), pose, rng(pose.heading_rad))
        sent.append(d)
        v, w = (d.left_mm_s + d.right_mm_s) / 2, (d.right_mm_s - d.left_mm_s) / wheelbase
        h = pose.heading_rad + w * DT
        pose = Pose(pose.x_mm + v * DT * math.cos(h), pose.y_mm + v * DT * math.sin(h), h)
        t += DT
    return sent, pose


def _dither(t, pose):
    """The livelock seen: turning in place one way for 3 s, then back the other way."""
    side = 1.0 if int(t / 3.0) % 2 == 0 else -1.0
    return Decision(-72.0 * side, 72.0 * side, None, "near", True)


def test_turning_on_one_spot_for_long_drives_out_toward_the_room_read():
    config = ArbiterConfig()
    guard = StuckGuard(config)
    quiet_s = config.stuck_after_ms / 1000.0
    sent, pose = _drive(guard, quiet_s - 1.0, _dither, pose=Pose(0.0, 0.0, 1.0))
    assert all(d.reason != STUCK for d in sent) and guard.escapes == 0
    # Dithering between 1.0 - 2.9 and 1.0 + 2.9 rad, it passed ROOM and read the room there.
    sent, pose = _drive(guard, 12.0, _dither, t0=quiet_s - 1.0, pose=pose)
    assert guard.escapes == 1
    escape = [d for d in sent if d.reason == STUCK]
    assert escape and any(d.left_mm_s == d.right_mm_s > 0 for d in escape)   # drove out
    out = math.hypot(pose.x_mm, pose.y_mm)
    assert out >= ESCAPE_MM - 10.0                      # ... toward the room, not the board
    assert abs(math.atan2(pose.y_mm, pose.x_mm) - ROOM) < 0.35


def test_holding_still_blind_or_without_a_pose_is_left_alone():
    config = ArbiterConfig()
    guard = StuckGuard(config)
    hold = lambda t, pose: Decision(0.0, 0.0, "dock", "arrived", True)
    sent, _ = _drive(guard, 40.0, hold)                  # docked: turns nowhere
    assert guard.escapes == 0 and all(d.reason == "arrived" for d in sent)
    blind = lambda t, pose: Decision(0.0, 0.0, None, "blind", True)
    _drive(guard, 40.0, blind)
    assert guard.escapes == 0
    t = 0.0
    while t < 40.0:                                      # no telemetry: no pose
        d = _dither(t, None)
        assert guard.step(t, d, None, None) is d
        t += DT
    off = StuckGuard(ArbiterConfig(stuck_after_ms=0))
    sent, _ = _drive(off, 40.0, _dither)
    assert off.escapes == 0


def test_with_no_room_read_anywhere_it_leaves_the_range_guard_to_it():
    guard = StuckGuard(ArbiterConfig())
    t, pose, h = 0.0, None, 0.0
    while t < 40.0:
        h += 0.05
        pose = Pose(0.0, 0.0, h)
        d = _dither(t, pose)
        assert guard.step(t, d, pose, 50.0) is d         # boxed in: 50 mm every way
        t += DT
    assert guard.escapes == 0


def test_it_does_not_drive_out_back_through_a_door_it_came_by_while_another_way_has_room():
    """Seen in the demo: stuck by a sign's board, the escape took the most room, back west
    through the door the robot had come in by, and the line follower led it home. Seen in the
    trials: in the obstacle field, with 0.6 m read the way on (room for the escape's drive),
    it still drove back out of the field, for it asked 0.8 m of a way that is not back."""
    other = ROOM + 1.5                 # a second way out, less open, where the dither reads it
    config = ArbiterConfig()
    quiet_s = config.stuck_after_ms / 1000.0
    for other_mm, ways_back, toward in ((1000.0, (), ROOM),
                                        (1000.0, ((ROOM, math.radians(60)),), other),
                                        (ESCAPE_MM + 200.0, ((ROOM, math.radians(60)),), other)):
        rng = lambda h, o=other_mm: (
            1500.0 if abs(math.remainder(h - ROOM, 2 * math.pi)) < 0.3 else
            o if abs(math.remainder(h - other, 2 * math.pi)) < 0.3 else 50.0)
        guard = StuckGuard(config, ways_back=lambda pose, ways=ways_back: ways)
        _, pose = _drive(guard, quiet_s + 12.0, _dither, pose=Pose(0.0, 0.0, 1.0), rng=rng)
        assert guard.escapes == 1
        assert math.hypot(pose.x_mm, pose.y_mm) >= ESCAPE_MM - 10.0
        assert abs(math.remainder(math.atan2(pose.y_mm, pose.x_mm) - toward, 2 * math.pi)) < 0.35


def test_half_a_turn_read_it_looks_round_the_rest_before_choosing_the_way_out():
    """Seen in the demo: the robot had turned through half a circle only; the only room it had
    read was back through the door it came by, and the way on was in the half it had not
    looked at. It looks round the rest first, then drives out the way on."""
    ahead = 5.5                                          # never faced while dithering (1.0-3.9)
    rng = lambda h: (1500.0 if abs(math.remainder(h - ROOM, 2 * math.pi)) < 0.3 else
                     1200.0 if abs(math.remainder(h - ahead, 2 * math.pi)) < 0.3 else 50.0)
    config = ArbiterConfig()
    guard = StuckGuard(config, ways_back=lambda pose: ((ROOM, math.radians(60)),))
    sent, pose = _drive(guard, config.stuck_after_ms / 1000.0 + 25.0, _dither,
                        pose=Pose(0.0, 0.0, 1.0), rng=rng)
    assert guard.escapes == 1
    looked = [d for d in sent if d.reason == STUCK and d.left_mm_s == -d.right_mm_s]
    assert looked                                        # turned in place to look first
    assert math.hypot(pose.x_mm, pose.y_mm) >= ESCAPE_MM - 10.0
    assert abs(math.remainder(math.atan2(pose.y_mm, pose.x_mm) - ahead, 2 * math.pi)) < 0.35
