import os

from hypothesis import settings

# Shared, noisy machines: no per-example deadline; a fixed example budget.
settings.register_profile("spikebox", deadline=None, max_examples=200, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "spikebox"))

# tests/train/ needs PyTorch: it runs in the training env (`make test-train`), never here.
collect_ignore = ["train"]
