"""ConfigError and the checks every stage's config makes on its own fields.

A stage's config is a dataclass that checks itself in `__post_init__`
(EncoderConfig, PagerConfig, the run config's sections in runtime/daemon/):
`check_fields` holds each value to its annotation, then the stage states its
ranges. A bad value raises ConfigError naming the field and the value; the
run config re-keys it to the TOML key path (`pager.budget_bytes`), so the
message points at what to edit. Nothing here knows the command line: an error
never names a flag.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing

import numpy as np

from .schema import FieldError


class ConfigError(FieldError):
    """The configs' words: `file: key = value: rule`, the value as the TOML file spells it
    and `rule` what it breaks (`must be > 0`); `key` is a field, or a TOML key path such as
    'pager.budget_bytes' once the run config has keyed it from its table."""

    def says(self) -> str:
        return f"{self.key} = {shown(self.value)}: {self.rule}" if self.key else self.rule


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


def check_fields(config) -> None:
    """Hold every field of the dataclass `config` to its annotation, normalising in place:
    an int is an int (not a bool), a float any finite number, a list stands for a tuple
    (TOML has none). Raises ConfigError naming the field."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for name, value in typed_fields(type(config), values).items():
        object.__setattr__(config, name, value)


def typed_fields(cls, values: dict) -> dict:
    """`values` for the dataclass `cls`, each checked against its field's annotation."""
    hints = _hints(cls)
    return {name: _typed(name, value, hints[name]) if name in hints else value
            for name, value in values.items()}


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


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not _is_bool(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not _is_bool(v) \
        and math.isfinite(v)


# annotation -> (what one is, what several are, test, conversion)
_SCALARS = {
    bool: ("true or false", "booleans", _is_bool, bool),
    int: ("an integer", "integers", _is_int, int),
    float: ("a finite number", "finite numbers", _is_number, float),
    str: ("a string", "strings", lambda v: isinstance(v, str), str),
}


def _typed(key: str, value, hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):          # only `X | None` is used
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        one, _, ok, convert = _SCALARS[hint]
        if not ok(value):
            raise ConfigError(key, value, f"must be {one}")
        return convert(value)
    if origin is tuple and args and args[0] in _SCALARS:
        _, several, ok, convert = _SCALARS[args[0]]
        variadic = args[-1] is Ellipsis
        rule = f"must be a list of {several}" if variadic else \
            f"must be a list of {len(args)} {several}"
        if not isinstance(value, (list, tuple)) or not all(ok(v) for v in value) or \
                (not variadic and len(value) != len(args)):
            raise ConfigError(key, value, rule)
        return tuple(convert(v) for v in value)
    if dataclasses.is_dataclass(hint) and not isinstance(value, hint):
        raise ConfigError(key, value, f"must be a {hint.__name__}")
    return value
