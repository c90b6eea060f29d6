"""``lean_dataclass`` behaves as ``dataclasses.dataclass``: each class below is built twice,
once by each decorator, and every observable behaviour is compared side by side."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import typing
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any, ClassVar

import pytest

from spfp_console import lean_dataclass as lean_module
from spfp_console.lean_dataclass import lean_dataclass

BOTH = pytest.mark.parametrize("deco", [dataclass, lean_dataclass], ids=["std", "lean"])


def build(deco: Any) -> dict[str, type]:
    """The same class bodies under one decorator."""

    @deco(frozen=True, kw_only=True)
    class Event:
        kind: ClassVar[str] = "event"

    @deco(frozen=True, kw_only=True)
    class Started(Event):
        """Documented."""

        kind: ClassVar[str] = "started"
        index: int
        sql: str
        note: str | None = None
        parts: tuple[str, ...] = ()

    @deco(frozen=True, kw_only=True)
    class Other(Event):
        index: int
        sql: str
        note: str | None = None
        parts: tuple[str, ...] = ()

    @deco(frozen=True)
    class Item:
        id: str
        text: str
        required: bool = True
        hidden: str = field(default="h", repr=False, compare=False)

    @deco
    class Row:
        phase: str
        items: list[str] = field(default_factory=list)
        derived: int = field(init=False, default=0)
        made: list[int] = field(init=False, default_factory=lambda: [1])
        unset: str = field(init=False, compare=False, repr=False)

        def __post_init__(self) -> None:
            self.derived = len(self.phase)

    @deco(frozen=True)
    class Keyed:
        a: int
        b: int = field(hash=False)

        def __hash__(self) -> int:
            return 7

    @deco
    class Node:
        name: str
        child: Any = None

    return {c.__name__: c for c in (Event, Started, Other, Item, Row, Keyed, Node)}


STD = build(dataclass)
LEAN = build(lean_dataclass)


def both(name: str) -> tuple[type, type]:
    return STD[name], LEAN[name]


@pytest.fixture(autouse=True, params=["shared __init__", "compiled __init__"])
def _init_path(request, monkeypatch):
    """Every test twice: the instances built by the shared ``__init__``, then by the one
    a class compiles after ``_COMPILE_INIT_AFTER`` instances (here: from the first)."""
    shared = request.param.startswith("shared")
    monkeypatch.setattr(lean_module, "_COMPILE_INIT_AFTER", 10**9 if shared else 0)
    monkeypatch.setitem(globals(), "LEAN", build(lean_dataclass))


def test_a_class_compiles_its_init_after_enough_instances(monkeypatch):
    monkeypatch.setattr(lean_module, "_COMPILE_INIT_AFTER", 3)
    cls = build(lean_dataclass)["Started"]
    shared = cls.__init__
    made = [cls(index=i, sql="x") for i in range(3)]
    assert cls.__init__ is shared
    made += [cls(index=3, sql="x"), cls(index=4, sql="x")]  # the fourth compiles
    assert cls.__init__ is not shared and "__lean_self__" in cls.__init__.__code__.co_varnames
    assert [e.index for e in made] == [0, 1, 2, 3, 4]
    assert list(vars(made[2])) == list(vars(made[4])) == ["index", "sql", "note", "parts"]


def test_fields_match_and_replace_asdict_work():
    for name in STD:
        std, lean = both(name)
        assert ([(f.name, f.init, f.repr, f.compare, f.kw_only) for f in dataclasses.fields(std)]
                == [(f.name, f.init, f.repr, f.compare, f.kw_only)
                    for f in dataclasses.fields(lean)]), name
        assert getattr(std, "__match_args__", None) == getattr(lean, "__match_args__", None)
    for cls in both("Started"):
        e = cls(index=1, sql="x", parts=("a",))
        assert dataclasses.replace(e, note="n") == cls(index=1, sql="x", note="n", parts=("a",))
        assert dataclasses.asdict(e) == {"index": 1, "sql": "x", "note": None, "parts": ("a",)}
        assert dataclasses.is_dataclass(e)


def test_init_same_instance_dict_and_defaults():
    for name, kwargs in (("Started", {"sql": "s", "index": 2}),
                         ("Item", {"id": "i", "text": "t"}),
                         ("Row", {"phase": "abc"})):
        std, lean = both(name)
        a, b = std(**kwargs), lean(**kwargs)
        assert list(vars(a).items()) == list(vars(b).items()), name
    std, lean = both("Row")
    for cls in (std, lean):
        r1, r2 = cls("p"), cls("p")
        assert r1.items is not r2.items and r1.made is not r2.made  # fresh per instance
        assert r1.derived == 1  # __post_init__ ran
        assert "unset" not in vars(r1)
    assert vars(std("p", ["x"])) == vars(lean("p", ["x"]))
    assert vars(std("p", items=["x"])) == vars(lean("p", items=["x"]))


@pytest.mark.parametrize(("name", "args", "kwargs"), [
    ("Started", (), {"index": 1}),                        # missing sql
    ("Started", (1, "x"), {}),                            # kw_only: no positional
    ("Started", (), {"index": 1, "sql": "x", "nope": 1}),  # unknown
    ("Item", ("i",), {}),                                 # missing text
    ("Item", ("i", "t", True, "h", "extra"), {}),         # too many
    ("Item", ("i", "t"), {"id": "again"}),                # twice
    ("Row", (), {"phase": "p", "derived": 3}),            # init=False field
])
def test_bad_arguments_raise_type_error_in_both(name, args, kwargs):
    for cls in both(name):
        with pytest.raises(TypeError):
            cls(*args, **kwargs)


def test_equality_hash_and_repr_match():
    for name, kwargs in (("Started", {"index": 1, "sql": "x"}),
                         ("Other", {"index": 1, "sql": "x"}),
                         ("Item", {"id": "i", "text": "t"}),
                         ("Keyed", {"a": 1, "b": 2})):
        std, lean = both(name)
        a, b = std(**kwargs), lean(**kwargs)
        assert repr(a) == repr(b), name
        assert hash(a) == hash(b), name
        assert (lean(**kwargs) == b) and not (lean(**kwargs) != b)
    # Same fields, other class: unequal (NotImplemented both ways, then identity).
    for deco_classes in (STD, LEAN):
        s = deco_classes["Started"](index=1, sql="x")
        o = deco_classes["Other"](index=1, sql="x")
        assert s != o and s.__eq__(o) is NotImplemented
        assert s != (1, "x", None, ())
    # compare=False fields do not compare, repr=False fields are not shown.
    _, item = both("Item")
    assert item("i", "t", hidden="a") == item("i", "t", hidden="b")
    assert "hidden" not in repr(item("i", "t"))
    # An explicit __hash__ is kept; a mutable class with eq is unhashable.
    assert hash(LEAN["Keyed"](1, 2)) == 7
    for cls in both("Row"):
        assert cls.__hash__ is None
        with pytest.raises(TypeError):
            hash(cls("p"))
        assert cls("p") == cls("p") and cls("p") != cls("q")


def test_frozen_instances_refuse_assignment_and_deletion():
    for cls in both("Started"):
        e = cls(index=1, sql="x")
        with pytest.raises(FrozenInstanceError):
            e.index = 2  # type: ignore[misc]
        with pytest.raises(FrozenInstanceError):
            e.other = 2  # type: ignore[attr-defined]
        with pytest.raises(FrozenInstanceError):
            del e.sql  # type: ignore[misc]
    for cls in both("Row"):
        r = cls("p")
        r.phase = "q"
        assert r.phase == "q"


def test_recursive_repr_and_copies():
    for cls in both("Node"):
        n = cls("a")
        n.child = n
        assert repr(n) == "test_lean_dataclass.build.<locals>.Node(name='a', child=...)".split(".", 1)[1]
    e = LEAN["Started"](index=1, sql="x")
    assert copy.copy(e) == e and copy.deepcopy(e) == e


def test_pickle_round_trip_of_a_module_level_class():
    p = _Pickled(a=1, b=("x",))
    assert pickle.loads(pickle.dumps(p)) == p


@lean_dataclass(frozen=True, kw_only=True)
class _Pickled:
    a: int
    b: tuple[str, ...] = ()


def test_body_methods_are_kept_and_docstrings_set():
    @lean_dataclass(frozen=True)
    class Custom:
        a: int

        def __repr__(self) -> str:
            return "custom"

    assert repr(Custom(1)) == "custom"
    assert LEAN["Started"].__doc__ == "Documented."
    assert LEAN["Other"].__doc__ == "Other(index, sql, note, parts)"


def test_frozen_and_mutable_do_not_mix_and_initvar_is_refused():
    with pytest.raises(TypeError):
        @lean_dataclass
        class Thawed(LEAN["Started"]):  # type: ignore[misc, valid-type]
            extra: int = 0
    with pytest.raises(TypeError):
        @lean_dataclass(frozen=True)
        class Frozen(LEAN["Row"]):  # type: ignore[misc, valid-type]
            extra: int = 0
    with pytest.raises(TypeError):
        @lean_dataclass
        class WithInitVar:
            secret: dataclasses.InitVar[str]
    with pytest.raises(TypeError):
        @lean_dataclass(frozen=True)
        class OwnSetattr:
            a: int

            def __setattr__(self, name: str, value: Any) -> None:
                pass


def test_subclass_without_decorator_inherits_the_parents_init():
    Item = LEAN["Item"]

    class Sub(Item):  # type: ignore[misc, valid-type]
        pass

    s = Sub("i", "t")
    assert s.id == "i" and ".Sub(id=" in repr(s)
    with pytest.raises(FrozenInstanceError):
        s.id = "j"


def test_a_mutable_class_own_setattr_sees_the_init_assignments():
    seen: list[str] = []
    for deco in (dataclass, lean_dataclass):

        @deco
        class Tracked:
            a: int
            b: str = "x"

            def __setattr__(self, name: str, value: Any) -> None:
                seen.append(name)
                object.__setattr__(self, name, value)

        seen.clear()
        Tracked(1)
        assert seen == ["a", "b"], deco


def test_definition_errors_match_the_standard_decorator():
    for deco in (dataclass, lean_dataclass):
        with pytest.raises(ValueError):
            @deco
            class MutableDefault:
                items: list[str] = []  # noqa: RUF012
        with pytest.raises(TypeError):
            @deco
            class DefaultFirst:
                a: int = 0
                b: int
        with pytest.raises(TypeError):
            @deco
            class Unannotated:
                a = field(default=1)

    @lean_dataclass(kw_only=True)
    class KeywordsMayMix:  # kw_only fields may leave out defaults in any order
        a: int = 0
        b: int

    assert KeywordsMayMix(b=1).a == 0
    with pytest.raises(TypeError):
        @lean_dataclass
        class WithKwOnlyMarker:
            a: int
            _: dataclasses.KW_ONLY
            b: int


def test_field_types_and_classvar_spellings():
    for deco in (dataclass, lean_dataclass):

        @deco
        class Spelled:
            a: ClassVar[int] = 1
            b: typing.ClassVar[int] = 2
            d: int = 0

        assert [f.name for f in dataclasses.fields(Spelled)] == ["d"]
        assert Spelled.a == 1 and Spelled().d == 0
    std, lean = both("Started")
    assert [f.type for f in dataclasses.fields(std)] == [f.type for f in dataclasses.fields(lean)]


def test_a_standard_dataclass_may_extend_a_lean_one():
    @dataclass(frozen=True, kw_only=True)
    class Extended(LEAN["Started"]):  # type: ignore[misc, valid-type]
        extra: int = 0

    e = Extended(index=1, sql="x", extra=2)
    assert (e.index, e.extra) == (1, 2)
    assert [f.name for f in dataclasses.fields(e)] == ["index", "sql", "note", "parts", "extra"]
    with pytest.raises(TypeError):
        @dataclass
        class Thawed(LEAN["Started"]):  # type: ignore[misc, valid-type]
            extra: int = 0
