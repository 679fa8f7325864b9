"""Parsed JSON into dataclasses, checked against their field types, once, where the data enters.

    entry = read_as(ExpertEntry, json.loads(text), "experts.line")   # or raises Invalid

A dataclass field's annotation is its schema: `int` (not a bool), `float`
(an int is accepted; NaN and infinities are not), `str`, `bool`, `dict`
(any object), `X | None`, `dict[str, X]`, `tuple[X, ...]` (a JSON list),
`tuple[X, Y]` (a list of exactly two) and nested dataclasses. A field with a
default may be missing; any other key missing, any key the dataclass does not
have, or a value of another type is refused. Ranges are the dataclass's own:
its `__post_init__` raises `Invalid` (naming the field) or ValueError.

Errors are one `Invalid` whose `key` is the dotted path from the top
(`experts.line.footprint_bytes`); the caller adds the file and the fix. The
box manifest (box.py) is read through this.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing

_MISSING = object()
_OWN_WORDS = object()          # `expected` is a whole sentence of the dataclass's own (EncoderConfig)


class Invalid(ValueError):
    """A value the schema refuses: where it sits (`key`, a dotted path), what it is, what is expected."""

    def __init__(self, key: str, value, expected: str):
        self.key, self.value, self.expected = key, value, expected
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.value is _MISSING:
            return f"{self.key} is missing; expected {self.expected}"
        if self.value is _OWN_WORDS:
            return f"{self.key}: {self.expected}"
        shown = repr(self.value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"{self.key} is {shown}; expected {self.expected}"

    def under(self, parent: str) -> "Invalid":
        """The same refusal, its key (a path below `parent`) prefixed with `parent`."""
        return Invalid(f"{parent}.{self.key}" if parent else self.key, self.value, self.expected)


def join(parent: str, key) -> str:
    """`parent.key`; keys that are not plain names (paths, dotted) as `parent['key']`."""
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{key!r}]"


def at_least(obj, minimum, *names: str) -> None:
    """For __post_init__: each field in `names` (None is let through) is >= `minimum`."""
    for name in names:
        value = getattr(obj, name)
        if value is not None and value < minimum:
            raise Invalid(name, value, f"a number >= {minimum}")


def read_as(tp, value, key: str = ""):
    """`value` (parsed JSON found at `key`) as type `tp`; raises Invalid naming the key."""
    if dataclasses.is_dataclass(tp):
        return _read_dataclass(tp, value, key)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return read_as(arg, value, key)
            except Invalid as e:
                if e.key != key:                   # the right type, wrong inside: that is the error
                    raise
        raise Invalid(key, value, " or ".join(_describe(a) for a in args))
    if origin is dict:
        _expect(isinstance(value, dict), key, value, tp)
        return {k: read_as(args[1], v, join(key, k)) for k, v in value.items()}
    if origin is tuple:
        _expect(isinstance(value, list), key, value, tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(read_as(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        _expect(len(value) == len(args), key, value, tp)
        return tuple(read_as(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is bool:
        _expect(isinstance(value, bool), key, value, tp)
    elif tp is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), key, value, tp)
    elif tp is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value), key, value, tp)
        return float(value)
    elif tp is str:
        _expect(isinstance(value, str), key, value, tp)
    elif tp is dict:
        _expect(isinstance(value, dict), key, value, tp)
    else:
        raise TypeError(f"schema.read_as has no reader for {tp!r} (at {key})")   # a schema bug
    return value


def _read_dataclass(cls, value, key: str):
    if not isinstance(value, dict):
        raise Invalid(key, value, f"an object ({cls.__name__})")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in value:
        if k not in fields:
            raise Invalid(join(key, k), value[k], f"no such key here (the keys are: "
                          f"{', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = read_as(hints[name], value[name], join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise Invalid(join(key, name), _MISSING, _describe(hints[name]))
    try:
        return cls(**kwargs)
    except Invalid as e:                             # the dataclass's own range checks
        raise e.under(key) from None
    except (ValueError, TypeError) as e:             # a foreign dataclass's checks (EncoderConfig)
        raise Invalid(key, _OWN_WORDS, str(e)) from None


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    """A dataclass's field types, evaluated once (a box of 1,000 experts reads each class 1,000 times)."""
    return typing.get_type_hints(cls)


def _expect(ok: bool, key: str, value, tp) -> None:
    if not ok:
        raise Invalid(key, value, _describe(tp))


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is dict:
        return "an object"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return "a list"
        return f"a list of {len(args)}"
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
            dict: "an object", type(None): "null"}.get(tp, repr(tp))
