"""Off-device: build, grow, check and sign boxes from trained models. May reuse spikebox.runtime;
the robot side never imports this package."""
