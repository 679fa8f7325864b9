"""Every benchmark: `spikebox bench bridge | activator | pager | faults | sim` (later routing, e2e).

Each module measures one stage with real parts, side by side in one process,
and returns one dict: the JSON `--json` prints, with `targets` and
`targets_met` stamped by `targets.py`, which also draws the human table.
Nothing here runs on the robot's control path.
"""
