"""ConfigError, the TOML spelling of values, and the range checks every stage's config makes.

A stage's config is a dataclass that checks itself in `__post_init__`
(EncoderConfig, PagerConfig, the run config's sections in runtime/daemon/):
`schema.check_fields(self, ConfigError)` holds each value to its
annotation (the type rules are schema.py's, shared with the box manifest),
then the stage states its ranges with the checks here. A bad value raises
ConfigError naming the field and the value as the TOML file spells it; read
from a table of the run config it is keyed by its TOML key path
(`pager.budget_bytes`), so the message points at what to edit. Nothing here
knows the command line: an error never names a flag.
"""
from __future__ import annotations

import difflib
import math

import numpy as np

from .schema import MISSING, FieldError, join


class ConfigError(FieldError):
    """The configs' words: `file: key = value: rule`, the value as the TOML file spells it
    and `rule` what it breaks (`must be > 0`); `key` is a field, or a TOML key path such as
    'pager.budget_bytes' once the run config has keyed it from its table."""

    NULL = None               # TOML has no null: a key left out takes its default

    def says(self) -> str:
        if not self.key:
            return self.rule
        if self.value is MISSING:
            return f"{self.key} is missing; it {self.rule}"
        return f"{self.key} = {shown(self.value)}: {self.rule}"

    @classmethod
    def not_a(cls, key: str, value, what: str) -> ConfigError:
        return cls(key, value, f"must be {what}")

    @classmethod
    def an_object(cls, tp, key: str) -> str:
        return f"a table: [{key}]" if key else "a table"

    @classmethod
    def unknown_key(cls, table: str, name: str, value, known: list[str]) -> ConfigError:
        """Key `name` of `table` ('' for the top level) is none of the `known` keys there."""
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        where = f"[{table}]" if table else "the top level"
        return cls(join(table, name), value, f"unknown key; {hint}{where} knows {', '.join(known)}")


def toml_value(value) -> str:
    """`value` as TOML spells it: a string, integer, finite float, boolean, or a list of them."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if c < " " or c == "\x7f"
                                                 else c) for c in value) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML spelling for {value!r}")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def shown(value) -> str:
    """A value in an error message: as the TOML file would spell it, where it can."""
    try:
        return toml_value(value)
    except TypeError:
        return repr(value)


def check_positive(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ConfigError(name, value, "must be > 0")


def check_choice(config, name: str, choices) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(name, value,
                          "must be one of " + ", ".join(toml_value(c) for c in choices))


def check_size(config, name: str) -> None:
    """A (width, height) pair of counts, a grid or a frame size: both >= 1."""
    value = getattr(config, name)
    if min(value) < 1:
        raise ConfigError(name, value, "must be [width, height], both >= 1")
