"""``lean_dataclass``: a ``dataclasses.dataclass`` whose methods are written once, here.

Python 3.11's ``dataclasses.dataclass`` compiles each method it adds to a class
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, and ``__setattr__`` and
``__delattr__`` when frozen) from generated source with its own ``exec``: about 1 ms per
class, and a headless ``run`` defines some 80 of them before it connects (issue 11's
start-up budget: at most psycopg + pglast + 50 ms of imports).  Here ``dataclasses``
still does the bookkeeping, so ``dataclasses.fields``, ``replace``, ``asdict``,
``__match_args__``, defaults and the checks on them behave as before; the methods are
closures over a small per-class spec, built without compiling anything.

The instances behave as the standard decorator's: the same ``__init__`` arguments
(positional unless ``kw_only``, defaults, ``default_factory``, ``init=False`` fields,
``__post_init__``), equality between instances of the very same class over the fields
that compare, a frozen class's hash over them (a mutable class with ``eq`` is
unhashable), the same ``repr``, and ``FrozenInstanceError`` on assignment.  A method the
class body defines is kept, as ``dataclass`` keeps it.  Not offered: ``order``,
``unsafe_hash``, ``slots`` (no parameter for them) and ``InitVar`` fields (a
``TypeError`` says so).  ``tests/test_lean_dataclass.py`` holds each behaviour against
the standard decorator's.

``__init__`` writes the instance ``__dict__`` directly, as ``object.__setattr__`` would:
it is a little faster than the generated frozen ``__init__`` (replay builds one event
per log line).
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")
_SPEC = "__lean_dataclass__"


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``obj -> (obj.a, obj.b, ...)``; attrgetter returns a bare value for one name."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        get_one = attrgetter(names[0])
        return lambda obj: (get_one(obj),)
    return attrgetter(*names)


class _Spec:
    """What the shared methods need to know of one class's fields."""

    __slots__ = ("frozen", "names")

    def __init__(self, frozen: bool, names: frozenset[str]) -> None:
        self.frozen = frozen
        self.names = names


class _SetattrView:
    """``view[name] = value`` as ``setattr(obj, name, value)``."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __setitem__(self, name: str, value: Any) -> None:
        setattr(self.obj, name, value)


def _make_init(cls: type, fields: tuple[dataclasses.Field[Any], ...],
               frozen: bool) -> Callable[..., None]:
    qualname = f"{cls.__qualname__}.__init__"
    # The generated __init__ of a mutable class assigns with setattr: honour a
    # __setattr__ of the class's own (a frozen one assigns with object.__setattr__).
    via_setattr = not frozen and cls.__setattr__ is not object.__setattr__
    init_fields = [f for f in fields if f.init]
    positional = tuple(f.name for f in init_fields if not f.kw_only)
    accepted = frozenset(f.name for f in init_fields)
    required = frozenset(f.name for f in init_fields
                         if f.default is MISSING and f.default_factory is MISSING)
    # (name, passed as an argument?, default, factory) per field the generated __init__
    # assigns, in field order (so the instance __dict__ has the same order).
    plan = tuple(
        (f.name, f.init, f.default,
         None if f.default_factory is MISSING else f.default_factory)
        for f in fields
        if f.init or f.default_factory is not MISSING
    )
    post_init = hasattr(cls, "__post_init__")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            if len(args) > len(positional):
                raise TypeError(f"{qualname}() takes {len(positional) + 1} positional"
                                f" arguments but {len(args) + 1} were given")
            for name, value in zip(positional, args):
                if name in kwargs:
                    raise TypeError(f"{qualname}() got multiple values for argument"
                                    f" {name!r}")
                kwargs[name] = value
        if not required <= kwargs.keys():
            missing = [repr(name) for name, *_ in plan if name in required
                       and name not in kwargs]
            raise TypeError(f"{qualname}() missing {len(missing)} required argument"
                            f"{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        if not accepted >= kwargs.keys():
            unexpected = next(name for name in kwargs if name not in accepted)
            raise TypeError(f"{qualname}() got an unexpected keyword argument"
                            f" {unexpected!r}")
        values: Any = _SetattrView(self) if via_setattr else self.__dict__
        for name, is_argument, default, factory in plan:
            if is_argument and name in kwargs:
                values[name] = kwargs[name]
            elif factory is not None:
                values[name] = factory()
            else:
                values[name] = default
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = qualname
    return __init__


def _make_repr(cls: type, names: tuple[str, ...]) -> Callable[[Any], str]:
    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        return (self.__class__.__qualname__ + "("
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in names) + ")")

    __repr__.__qualname__ = f"{cls.__qualname__}.__repr__"
    return __repr__


def _make_eq(cls: type, names: tuple[str, ...]) -> Callable[[Any, object], Any]:
    key = _tuple_getter(names)

    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    __eq__.__qualname__ = f"{cls.__qualname__}.__eq__"
    return __eq__


def _make_hash(cls: type, names: tuple[str, ...]) -> Callable[[Any], int]:
    key = _tuple_getter(names)

    def __hash__(self: Any) -> int:
        return hash(key(self))

    __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
    return __hash__


def _make_frozen(owner: type[Any], names: frozenset[str]
                 ) -> tuple[Callable[..., None], Callable[..., None]]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if self.__class__ is owner or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if self.__class__ is owner or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)

    __setattr__.__qualname__ = f"{owner.__qualname__}.__setattr__"
    __delattr__.__qualname__ = f"{owner.__qualname__}.__delattr__"
    return __setattr__, __delattr__


def _process(cls: type[_T], frozen: bool, kw_only: bool, eq: bool) -> type[_T]:
    body = dict(cls.__dict__)
    for base in cls.__mro__[1:]:
        base_spec = base.__dict__.get(_SPEC)
        if base_spec is not None and base_spec.frozen != frozen:
            raise TypeError(f"cannot inherit {'non-' if frozen else ''}frozen dataclass"
                            f" from a {'' if frozen else 'non-'}frozen one")
    if frozen and ("__setattr__" in body or "__delattr__" in body):
        raise TypeError(f"cannot overwrite __setattr__ or __delattr__ in frozen class"
                        f" {cls.__name__}")
    if not cls.__doc__:
        # dataclass would build one from inspect.signature (slow, and it would describe
        # the shared __init__'s *args, **kwargs); set below from the fields instead.
        cls.__doc__ = cls.__name__
        undocumented = True
    else:
        undocumented = False
    dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=False,
                          kw_only=kw_only)
    for f in cls.__dataclass_fields__.values():  # type: ignore[attr-defined]
        if f._field_type is dataclasses._FIELD_INITVAR:  # type: ignore[attr-defined]
            raise TypeError(f"{cls.__name__}.{f.name}: lean_dataclass does not support"
                            " InitVar fields")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = frozenset(f.name for f in fields)
    setattr(cls, _SPEC, _Spec(frozen, names))
    if undocumented:
        cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in fields if f.init)})"

    def add(name: str, method: Any) -> None:
        if name not in body:
            setattr(cls, name, method)

    add("__init__", _make_init(cls, fields, frozen))
    add("__repr__", _make_repr(cls, tuple(f.name for f in fields if f.repr)))
    if eq:
        compared = tuple(f.name for f in fields if f.compare)
        add("__eq__", _make_eq(cls, compared))
        class_hash = body.get("__hash__", MISSING)
        explicit_hash = not (class_hash is MISSING
                             or (class_hash is None and "__eq__" in body))
        if not explicit_hash:
            if frozen:
                hashed = tuple(f.name for f in fields
                               if (f.compare if f.hash is None else f.hash))
                cls.__hash__ = _make_hash(cls, hashed)  # type: ignore[method-assign, assignment]
            else:
                cls.__hash__ = None  # type: ignore[assignment]
    if frozen:
        setattr_, delattr_ = _make_frozen(cls, names)
        cls.__setattr__ = setattr_  # type: ignore[method-assign, assignment]
        cls.__delattr__ = delattr_  # type: ignore[method-assign, assignment]
    return cls


@overload
def lean_dataclass(cls: type[_T], /) -> type[_T]: ...


@overload
def lean_dataclass(*, frozen: bool = False, kw_only: bool = False,
                   eq: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def lean_dataclass(cls: type[_T] | None = None, /, *, frozen: bool = False,
                   kw_only: bool = False, eq: bool = True
                   ) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Use as ``@dataclass`` (``frozen``, ``kw_only`` and ``eq`` mean the same)."""
    if cls is not None:
        return _process(cls, frozen, kw_only, eq)

    def wrap(cls: type[_T]) -> type[_T]:
        return _process(cls, frozen, kw_only, eq)

    return wrap
