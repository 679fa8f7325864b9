"""The pager's offline tools: the same Pager run without models, and its ceiling.

    from spikebox.runtime.pager.offline import simulate, belady_hit_rate, scene_trace
    r = simulate(frames, footprints, budget_bytes, ActivatorAwarePolicy())
    belady_hit_rate(demand_trace(frames), footprints, budget_bytes)   # what no policy beats
    unavoidable_misses(frames, footprints, budget_bytes)    # what no prefetcher avoids

Used by the pager benchmark and tests; nothing here runs on the robot.
"""
from .belady import belady_hit_rate
from .simulate import demand_trace, serve_frame, simulate
from .traces import course_transitions, scene_trace
from .unavoidable import unavoidable_misses

__all__ = ["belady_hit_rate", "course_transitions", "demand_trace", "scene_trace", "serve_frame",
           "simulate", "unavoidable_misses"]
