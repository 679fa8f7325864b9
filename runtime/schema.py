"""Values held to their dataclass field annotations: one set of type rules, for the box
manifest read from JSON and for every config checking itself in `__post_init__`.

    entry = read_as(ExpertEntry, json.loads(text), "experts.line")   # or raises Invalid
    check_fields(self, ConfigError)          # a config's __post_init__, in place

A dataclass field's annotation is its schema: `int` (not a bool), `float`
(an int is accepted; NaN and infinities are not), `str`, `bool`, `dict`
(any object), `X | None`, `dict[str, X]`, `tuple[X, ...]` (a list: JSON and
TOML have no tuple), `tuple[X, Y]` (a list of exactly two) and nested
dataclasses (one, or an object of its keys, read into one). numpy scalars
count as the numbers they are. Values come back normalised: a float field
holds a float, a list a tuple. Reading an object into a dataclass, a field
with a default may be missing (an object given for a field whose default is a
dataclass changes only the keys it has: a TOML table over the defaults); any
other key missing, any key the dataclass does not have, or a value of another
type is refused. Ranges are the dataclass's own: its `__post_init__` raises a
FieldError naming the field, re-keyed from here.

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

MISSING = object()        # the value of a key that is not there


class FieldError(ValueError):
    """A value a dataclass field refuses: where it sits (`key`, a dotted path such as
    `experts.line.footprint_bytes`; '' for a whole file), the `value` given (MISSING: none),
    the `rule` it breaks, and the `file` it was read from, if known. The message is worded
    by a subclass: Invalid (the box manifest, JSON) or config_fields.ConfigError (the
    configs, TOML), which also word the refusals of the type rules below."""

    NULL: str | None          # how None reads among a value's types ("a string or null");
                              # None: it is not offered

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

    @classmethod
    def not_a(cls, key: str, value, what: str) -> FieldError:
        """`value` at `key` is not `what`, a noun phrase ("an integer", "a list of 2 integers")."""
        raise NotImplementedError

    @classmethod
    def an_object(cls, tp, key: str) -> str:
        """The noun phrase for a dict or the dataclass `tp`, asked for at `key`."""
        raise NotImplementedError

    @classmethod
    def unknown_key(cls, parent: str, name: str, value, known: list[str]) -> FieldError:
        """Key `name` of the object at `parent` is none of the `known` keys there."""
        raise NotImplementedError


class Invalid(FieldError):
    """The manifest's words: `key is value; expected rule` (`rule` says what would do)."""

    NULL = "null"

    def says(self) -> str:
        if self.value is MISSING:
            return f"{self.key} is missing; expected {self.rule}"
        shown = repr(self.value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"{self.key} is {shown}; expected {self.rule}"

    @classmethod
    def not_a(cls, key: str, value, what: str) -> Invalid:
        return cls(key, value, what)

    @classmethod
    def an_object(cls, tp, key: str) -> str:
        return f"an object ({tp.__name__})" if dataclasses.is_dataclass(tp) else "an object"

    @classmethod
    def unknown_key(cls, parent: str, name: str, value, known: list[str]) -> Invalid:
        return cls(join(parent, name), value, f"no such key here (the keys are: "
                   f"{', '.join(known)})")


def join(parent: str, key) -> str:
    """`parent.key`; keys that are not plain names (paths, dotted) as `parent['key']`,
    list indices as `parent[0]`."""
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


def check_fields(obj, error: type[FieldError]) -> None:
    """Hold every field of the dataclass `obj` to its annotation, normalising it in place
    (frozen or not); raises `error` naming the field."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        object.__setattr__(obj, f.name, _read_field(f, hints[f.name], getattr(obj, f.name), f.name,
                                                    error))


def read_as(tp, value, key: str = "", error: type[FieldError] = Invalid):
    """`value` (found at `key`) held to the annotation `tp`, normalised; raises `error`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        _expect(isinstance(value, dict), tp, value, key, error)
        return _read_dataclass(tp, value, key, error)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return read_as(arg, value, key, error)
            except FieldError as e:
                if e.key != key:                   # the right type, wrong inside: that is the error
                    raise
        raise error.not_a(key, value, _describe(tp, key, error))
    if tp is dict or origin is dict:
        _expect(isinstance(value, dict), tp, value, key, error)
        return {k: read_as(args[1], v, join(key, k), error) for k, v in value.items()} \
            if args else value
    if origin is tuple:
        variadic = args[-1] is Ellipsis
        _expect(isinstance(value, (list, tuple)) and (variadic or len(value) == len(args)),
                tp, value, key, error)
        items = [args[0]] * len(value) if variadic else args
        return tuple(read_as(a, v, join(key, i), error) for i, (a, v) in enumerate(zip(items, value)))
    if tp in _SCALARS:
        one, _, ok, convert = _SCALARS[tp]
        _expect(ok(value), tp, value, key, error)
        return convert(value)
    raise TypeError(f"schema.read_as has no rule for {tp!r} (at {key})")   # a schema bug


def _read_dataclass(cls, value: dict, key: str, error: type[FieldError]):
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in value:
        if k not in fields:
            raise error.unknown_key(key, k, value[k], list(fields))
    kwargs = {}
    for name, f in fields.items():
        at = join(key, name)
        if name in value:
            kwargs[name] = _read_field(f, hints[name], value[name], at, error)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise error.not_a(at, MISSING, _describe(hints[name], at, error))
    try:
        return cls(**kwargs)
    except FieldError as e:                          # the dataclass's own range checks
        raise e.under(key) from None


def _read_field(f: dataclasses.Field, tp, value, key: str, error: type[FieldError]):
    """A field's value read as its annotation `tp`. An object given for a field whose default
    is a dataclass changes only the keys it has (a TOML table over the defaults)."""
    if isinstance(value, dict) and f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
        if dataclasses.is_dataclass(default):
            value = {d.name: getattr(default, d.name) for d in dataclasses.fields(default)
                     if d.init} | value
    return read_as(tp, value, key, error)


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    """A dataclass's field types, evaluated once (a box of 1,000 experts reads each class 1,000 times)."""
    return typing.get_type_hints(cls)


def _expect(ok: bool, tp, value, key: str, error: type[FieldError]) -> None:
    if not ok:
        raise error.not_a(key, value, _describe(tp, key, error))


def _describe(tp, key: str, error: type[FieldError]) -> str:
    """What the annotation `tp` asks for, as a noun phrase in `error`'s words."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(error.NULL if a is type(None) else _describe(a, key, error)
                           for a in args if a is not type(None) or error.NULL)
    if origin is tuple:
        variadic = args[-1] is Ellipsis
        items = set(args[:1] if variadic else args)
        several = _several(*items) if len(items) == 1 else None
        words = ([] if variadic else [str(len(args))]) + ([several] if several else [])
        return "a list of " + " ".join(words) if words else "a list"
    if tp in _SCALARS:
        return _SCALARS[tp][0]
    return error.an_object(tp, key)


def _several(tp) -> str | None:
    """`tp` in the plural (`integers or strings`), where the rules have a word for it."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) \
        else (tp,)
    if all(a in _SCALARS for a in args):
        return " or ".join(_SCALARS[a][1] for a in args)
    return None


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
