"""Off-device: turns trained models into a box (issue #4). May reuse spikebox.runtime."""
