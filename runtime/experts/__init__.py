"""Experts: small ONNX models run by onnxruntime, opened by one session factory (session.py).

Data path: activator → pager → **experts** → arbiter. The pager decides which
experts are resident; this package opens, describes, warms and measures them.
"""
from .session import (ExpertLoadError, SessionConfig, TensorSpec, input_specs, load_session,
                      output_specs, warm_up, write_paged)

__all__ = ["ExpertLoadError", "SessionConfig", "TensorSpec", "input_specs", "load_session",
           "output_specs", "warm_up", "write_paged"]
