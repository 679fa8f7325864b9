"""What runs on the robot: source → encoder → activator → pager → experts → arbiter.

May use spikebox.firmware_bridge; never imports spikebox.export or torch.
The stages arrive with issues #3 (activator) and #4 (pager).
"""
