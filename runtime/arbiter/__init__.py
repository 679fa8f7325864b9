"""The arbiter: expert outputs -> one drive setpoint a control cycle, safety first.

    from spikebox.runtime.arbiter import Arbiter, ExpertResult
    arbiter = Arbiter(box.experts, run_config.arbiter, run_config.link.max_wheel_mm_s)
    decision = arbiter.decide(now_s, results, awake)     # Decision: wheels, who, why

Data path: experts → **arbiter** → firmware_bridge. How an expert's outputs
drive is its manifest entry's drive contract (contract.py); the choice and its
faults are decide.py's, each behaviour's memory behaviours.py's (a seek's, seek.py), the ways
back and on ways.py's (what the range sensor read, by place, places.py), and steering
→ wheel speeds kinematics.py's (the sim's autopilot drives by it too).
"""
from .contract import (ARRIVALS, BEHAVIOURS, CLASS_ACTIONS, ClassesDrive, DriveContract,
                       SeekDrive, SteerDrive)
from .decide import (BLIND, FAULTS, IDLE, IDLE_MODES, Arbiter, ArbiterCounts, Decision,
                     ExpertResult)
from .kinematics import SteeringLimits

__all__ = ["ARRIVALS", "BEHAVIOURS", "BLIND", "CLASS_ACTIONS", "FAULTS", "IDLE", "IDLE_MODES",
           "Arbiter", "ArbiterCounts", "ClassesDrive", "Decision", "DriveContract", "ExpertResult",
           "SeekDrive", "SteerDrive", "SteeringLimits"]
