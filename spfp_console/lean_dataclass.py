"""``lean_dataclass``: a ``dataclasses.dataclass`` whose methods are written once, here.

Python 3.11's ``dataclasses.dataclass`` compiles each method it adds to a class
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, and ``__setattr__`` and
``__delattr__`` when frozen) from generated source, one ``exec`` each, and inspects every
string annotation with regular expressions: about 1 ms per class, and a headless ``run``
defines some 80 classes before it connects (issue 11's start-up budget: psycopg + pglast
+ 50 ms of imports).  Here the methods are closures over what was read of the fields
once, and nothing is compiled at import: about 0.05 ms per class.

The fields are recorded as ``dataclasses`` records them (``Field`` objects in
``__dataclass_fields__``, ``__dataclass_params__``, ``__match_args__``), so
``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` work unchanged; the
one private name used is ``dataclasses._FIELD``, the mark ``fields()`` filters on.  The
instances behave as the standard decorator's: the same ``__init__`` arguments
(positional unless ``kw_only``, defaults, ``default_factory``, ``init=False`` fields,
``__post_init__``) and checks (mutable defaults, a non-default argument after a default
one), equality between instances of the very same class over the fields that compare, a
frozen class's hash over them (a mutable class with ``eq`` is unhashable), the same
``repr``, and ``FrozenInstanceError`` on assignment.  A method the class body defines is
kept, as ``dataclass`` keeps it.  Not offered: ``order``, ``unsafe_hash``, ``slots`` (no
parameter for them), ``InitVar`` and ``KW_ONLY`` (a ``TypeError`` says so).
``tests/test_lean_dataclass.py`` holds each behaviour against the standard decorator's.

``__init__`` is shared until a class has built ``_COMPILE_INIT_AFTER`` instances, then
compiled for its fields as ``dataclasses`` compiles it: a ``run`` compiles two or so, replay
(an event per log line) builds at the same speed and size as before.  Type checkers see
a dataclass (``typing.dataclass_transform``).
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError
from operator import attrgetter
from types import SimpleNamespace
from typing import Any, ClassVar, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")
_PSEUDO_FIELDS = frozenset({"ClassVar", "InitVar", "KW_ONLY"})

_COMPILE_INIT_AFTER = 64
"""Instances a class's shared ``__init__`` builds before the class gets an ``__init__``
compiled for its fields (as ``dataclasses`` compiles one for every class, at import): a
``run`` builds most classes a few times and compiles two or so, replay builds 100,000
events at the compiled speed (about 1 us an event faster)."""

_HAS_FACTORY = object()
"""The default of an argument a factory fills (``dataclasses`` has its own)."""


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``obj -> (obj.a, obj.b, ...)``; attrgetter returns a bare value for one name."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        get_one = attrgetter(names[0])
        return lambda obj: (get_one(obj),)
    return attrgetter(*names)


def _compiled_init(fields: tuple[dataclasses.Field[Any], ...], frozen: bool,
                   post_init: bool, qualname: str) -> Callable[..., None]:
    """The ``__init__`` ``dataclasses`` would compile for these fields."""
    glob: dict[str, Any] = {"__lean_setattr": object.__setattr__,
                            "__lean_factory_default": _HAS_FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        value = f.name
        if f.default_factory is not MISSING:
            glob[f"__lean_factory_{f.name}"] = f.default_factory
            value = (f"__lean_factory_{f.name}() if {f.name} is __lean_factory_default"
                     f" else {f.name}" if f.init else f"__lean_factory_{f.name}()")
        elif not f.init:
            continue
        if f.init:
            param = f.name
            if f.default is not MISSING:
                glob[f"__lean_default_{f.name}"] = f.default
                param += f"=__lean_default_{f.name}"
            elif f.default_factory is not MISSING:
                param += "=__lean_factory_default"
            (keyword if f.kw_only else positional).append(param)
        body.append(f"    __lean_setattr(__lean_self__, {f.name!r}, {value})" if frozen
                    else f"    __lean_self__.{f.name} = {value}")
    if post_init:
        body.append("    __lean_self__.__post_init__()")
    params = ", ".join(["__lean_self__", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({params}):\n" + ("\n".join(body) or "    pass") + "\n"
    namespace: dict[str, Any] = {}
    exec(source, glob, namespace)  # what dataclasses does, here for one method of a class
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = qualname
    return init


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
    # Every field the generated __init__ assigns, in field order, with its default (a
    # placeholder where an argument or a factory gives the value).  Assigned one by one
    # in that order, as the generated __init__ does: the instance keeps CPython's compact
    # attribute storage (137 bytes an event, not 337 with a __dict__.update), and
    # __dict__ keeps field order (SessionHeader.to_record reads it in order).
    template = {f.name: None if f.default is MISSING else f.default
                for f in fields if f.init or f.default_factory is not MISSING}
    factories = {f.name: f.default_factory for f in fields
                 if f.default_factory is not MISSING}
    assign = setattr if via_setattr else object.__setattr__
    post_init = hasattr(cls, "__post_init__")
    built = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        if built > _COMPILE_INIT_AFTER and cls.__dict__.get("__init__") is __init__:
            compiled = _compiled_init(fields, frozen, post_init, qualname)
            cls.__init__ = compiled  # type: ignore[misc]
            compiled(self, *args, **kwargs)
            return
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
            missing = [repr(name) for name in template if name in required
                       and name not in kwargs]
            raise TypeError(f"{qualname}() missing {len(missing)} required argument"
                            f"{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        if not accepted >= kwargs.keys():
            unexpected = next(name for name in kwargs if name not in accepted)
            raise TypeError(f"{qualname}() got an unexpected keyword argument"
                            f" {unexpected!r}")
        get = kwargs.get
        if factories:
            for name, default in template.items():
                if name in kwargs:
                    assign(self, name, kwargs[name])
                else:
                    factory = factories.get(name)
                    assign(self, name, default if factory is None else factory())
        else:
            for name, default in template.items():
                assign(self, name, get(name, default))
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


def _pseudo_field(annotation: Any) -> str | None:
    """"ClassVar", "InitVar" or "KW_ONLY" when ``annotation`` is one of them (bare or
    subscripted, or a string naming it, as ``from __future__ import annotations`` leaves
    every annotation), else None: then it annotates a field."""
    if isinstance(annotation, str):
        head = annotation.partition("[")[0].strip().rpartition(".")[2]
        return head if head in _PSEUDO_FIELDS else None
    if annotation is ClassVar or getattr(annotation, "__origin__", None) is ClassVar:
        return "ClassVar"
    if annotation is dataclasses.InitVar or isinstance(annotation, dataclasses.InitVar):
        return "InitVar"
    return "KW_ONLY" if annotation is dataclasses.KW_ONLY else None


def _collect_fields(cls: type, frozen: bool, kw_only: bool, eq: bool
                    ) -> tuple[dataclasses.Field[Any], ...]:
    """What ``dataclasses`` would record of the class's fields, recorded the same way
    (``__dataclass_fields__``, ``__dataclass_params__``, ``__match_args__``), so its
    ``fields``, ``replace``, ``asdict`` and ``is_dataclass`` work on the class."""
    fields: dict[str, dataclasses.Field[Any]] = {}
    for base in cls.__mro__[-1:0:-1]:
        if "__dataclass_fields__" in base.__dict__:
            params = base.__dict__.get("__dataclass_params__")
            if params is not None and params.frozen != frozen:
                raise TypeError(f"cannot inherit {'non-' if frozen else ''}frozen dataclass"
                                f" from a {'' if frozen else 'non-'}frozen one")
            fields.update((f.name, f) for f in dataclasses.fields(base))
    body = cls.__dict__
    annotations = body.get("__annotations__", {})
    for name, annotation in annotations.items():
        pseudo = _pseudo_field(annotation)
        if pseudo == "ClassVar":
            continue
        if pseudo is not None:
            raise TypeError(f"{cls.__name__}.{name}: lean_dataclass does not support"
                            " InitVar or KW_ONLY")
        default = body.get(name, MISSING)
        if isinstance(default, dataclasses.Field):
            f = default
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        else:
            f = dataclasses.field(default=default)
        f.name = name
        f.type = annotation
        f._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
        if f.kw_only is MISSING:
            f.kw_only = kw_only  # type: ignore[assignment]
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not"
                             " allowed: use default_factory")
        fields[name] = f
    for name, value in body.items():
        if isinstance(value, dataclasses.Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    defaulted = None
    for f in fields.values():
        if not f.init or f.kw_only:
            continue
        if f.default is not MISSING or f.default_factory is not MISSING:
            defaulted = f.name
        elif defaulted is not None:
            raise TypeError(f"non-default argument {f.name!r} follows default argument"
                            f" {defaulted!r}")
    cls.__dataclass_fields__ = fields  # type: ignore[attr-defined]
    cls.__lean_dataclass__ = True  # type: ignore[attr-defined]
    # dataclasses reads only .frozen of a base's params (a @dataclass subclass of ours).
    cls.__dataclass_params__ = SimpleNamespace(  # type: ignore[attr-defined]
        init=True, repr=True, eq=eq, order=False, unsafe_hash=False, frozen=frozen)
    if "__match_args__" not in body:
        cls.__match_args__ = tuple(  # type: ignore[misc, attr-defined]
            f.name for f in fields.values() if f.init and not f.kw_only)
    return tuple(fields.values())


def _process(cls: type[_T], frozen: bool, kw_only: bool, eq: bool) -> type[_T]:
    body = dict(cls.__dict__)
    if frozen and ("__setattr__" in body or "__delattr__" in body):
        raise TypeError(f"cannot overwrite __setattr__ or __delattr__ in frozen class"
                        f" {cls.__name__}")
    fields = _collect_fields(cls, frozen, kw_only, eq)
    names = frozenset(f.name for f in fields)
    if not cls.__doc__:  # as dataclass does, but without inspect.signature (slow)
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


def is_lean_dataclass(cls: type) -> bool:
    """Was ``cls`` itself (not only a base of it) made by ``lean_dataclass``?"""
    return "__lean_dataclass__" in cls.__dict__


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
