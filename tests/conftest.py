import os

from hypothesis import settings

# Shared, noisy machines: no per-example deadline; a fixed example budget.
settings.register_profile("spikebox", deadline=None, max_examples=200, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "spikebox"))
