"""How every benchmark states its targets, checks them and prints its table.

    TARGETS = (Target("rtt_ms_p99", "<=", 2.0), Target("bit_exact", "==", True))
    stamp(result, TARGETS)          # adds "targets" (key -> "op bound") and "targets_met"
    print(render("spikebox bench bridge", rows, TARGETS, result))

A figure that could not be measured is None and misses its target; the JSON
says so rather than a guess.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Target:
    key: str                    # the result key judged
    op: str                     # one of _OPS
    bound: object               # a number or bool; or, with `judge`, the bound in words
    judge: Callable[[dict], bool] | None = None   # for a bound made of other figures

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"Target {self.key}: op {self.op!r} is not one of {sorted(_OPS)}")

    def met(self, result: dict) -> bool:
        value = result.get(self.key)
        if value is None:
            return False
        if self.judge is not None:
            return bool(self.judge(result))
        return bool(_OPS[self.op](value, self.bound))

    def stated(self) -> str:
        return f"{self.op} {self.bound}"


def stamp(result: dict, targets: tuple[Target, ...]) -> dict:
    """Add `targets` (key -> stated bound) and `targets_met` to a bench result."""
    result["targets"] = {t.key: t.stated() for t in targets}
    result["targets_met"] = all(t.met(result) for t in targets)
    return result


def render(title: str, rows: list[tuple[str, str, str | None]], targets: tuple[Target, ...],
           result: dict) -> str:
    """rows: (label, value, key of a target or None). The human table of a bench."""
    by_key = {t.key: t for t in targets}
    width = max(len(label) for label, _, _ in rows)
    lines = [title, ""]
    for label, value, key in rows:
        mark = ""
        if key:
            t = by_key[key]
            mark = ("ok  " if t.met(result) else "MISS") + f" target {t.stated()}"
        lines.append(f"  {label:<{width}} {value:>16}   {mark}".rstrip())
    lines += ["", "all targets met" if result["targets_met"] else "TARGETS MISSED"]
    return "\n".join(lines)
