"""The human table every `spikebox bench` prints (the JSON is the result itself)."""
from __future__ import annotations

from typing import Callable


def render(title: str, rows: list[tuple[str, str, str | None]], targets: dict,
           met: Callable[[str], bool], all_met: bool) -> str:
    """rows: (label, value, key of `targets` or None); `met(key)` says if that target holds."""
    width = max(len(label) for label, _, _ in rows)
    lines = [title, ""]
    for label, value, key in rows:
        mark = ""
        if key:
            op, bound = targets[key]
            mark = ("ok  " if met(key) else "MISS") + f" target {op} {bound}"
        lines.append(f"  {label:<{width}} {value:>16}   {mark}".rstrip())
    lines += ["", "all targets met" if all_met else "TARGETS MISSED"]
    return "\n".join(lines)
