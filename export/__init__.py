"""Off-device: build, grow and check boxes from trained models. May reuse spikebox.runtime;
the robot side never imports this package."""
