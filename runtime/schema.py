"""Parsed JSON into dataclasses, checked against their field types, once, where the data enters.

    entry = read_as(ExpertEntry, json.loads(text), "experts.line")   # or raises Invalid

A dataclass field's annotation is its schema: `int` (not a bool), `float`
(an int is accepted; NaN and infinities are not), `str`, `bool`, `dict`
(any object), `X | None`, `dict[str, X]`, `tuple[X, ...]` (a JSON list),
`tuple[X, Y]` (a list of exactly two) and nested dataclasses. A field with a
default may be missing; any other key missing, any key the dataclass does not
have, or a value of another type is refused. Ranges are the dataclass's own:
its `__post_init__` raises a FieldError naming the field, re-keyed from here.

Every refusal is a FieldError whose `key` is the dotted path from the top
(`experts.line.footprint_bytes`); `under` prefixes it, the caller adds the file
and the fix. Its subclasses word it: `Invalid` here, for the box manifest
(box.py), and config_fields.ConfigError for the configs.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing

import numpy as np

_MISSING = object()


class FieldError(ValueError):
    """A value a dataclass field refuses: where it sits (`key`, a dotted path such as
    `experts.line.footprint_bytes`; '' for a whole file), the `value` given, the `rule` it
    breaks, and the `file` it was read from, if known. The message is worded by a subclass:
    Invalid (the box manifest, JSON) or config_fields.ConfigError (the configs, TOML)."""

    def __init__(self, key: str, value, rule: str, *, file: str | None = None):
        self.key, self.value, self.rule, self.file = key, value, rule, file
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"{self.file}: {self.says()}" if self.file else self.says()

    def says(self) -> str:
        """The refusal without the file, in the subclass's words."""
        raise NotImplementedError

    def under(self, parent: str) -> FieldError:
        """The same refusal, its key (a path below `parent`) prefixed with `parent`."""
        return type(self)(_prefixed(parent, self.key), self.value, self.rule, file=self.file)

    def in_file(self, path) -> FieldError:
        return type(self)(self.key, self.value, self.rule, file=str(path))


class Invalid(FieldError):
    """The manifest's words: `key is value; expected rule` (`rule` says what would do)."""

    def says(self) -> str:
        if self.value is _MISSING:
            return f"{self.key} is missing; expected {self.rule}"
        shown = repr(self.value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"{self.key} is {shown}; expected {self.rule}"


def join(parent: str, key) -> str:
    """`parent.key`; keys that are not plain names (paths, dotted) as `parent['key']`."""
    plain = isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]+", key)
    return _prefixed(parent, key if plain else f"[{key!r}]")


def _prefixed(parent: str, path: str) -> str:
    """The key path `path` (below `parent`) from the top: the one way paths are put together."""
    if not parent or not path:
        return parent or path
    return parent + path if path.startswith("[") else f"{parent}.{path}"


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


def check_fields(config, error: type[FieldError]) -> None:
    """Hold every field of the dataclass `config` to its annotation, normalising in place:
    an int is an int (not a bool), a float any finite number, a list stands for a tuple
    (TOML has none). Raises `error` naming the field."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for name, value in typed_fields(type(config), values, error).items():
        object.__setattr__(config, name, value)


def typed_fields(cls, values: dict, error: type[FieldError]) -> dict:
    """`values` for the dataclass `cls`, each checked against its field's annotation."""
    hints = _hints(cls)
    return {name: _typed(name, value, hints[name], error) if name in hints else value
            for name, value in values.items()}


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
    except FieldError as e:                          # the dataclass's own range checks
        raise e.under(key) from None


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


def _typed(key: str, value, hint, error: type[FieldError]):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):          # only `X | None` is used
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        one, _, ok, convert = _SCALARS[hint]
        if not ok(value):
            raise error(key, value, f"must be {one}")
        return convert(value)
    if origin is tuple and args and args[0] in _SCALARS:
        _, several, ok, convert = _SCALARS[args[0]]
        variadic = args[-1] is Ellipsis
        rule = f"must be a list of {several}" if variadic else \
            f"must be a list of {len(args)} {several}"
        if not isinstance(value, (list, tuple)) or not all(ok(v) for v in value) or \
                (not variadic and len(value) != len(args)):
            raise error(key, value, rule)
        return tuple(convert(v) for v in value)
    if dataclasses.is_dataclass(hint) and not isinstance(value, hint):
        raise error(key, value, f"must be a {hint.__name__}")
    return value
