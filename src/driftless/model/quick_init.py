"""A faster ``__init__`` for the frozen, slotted dataclasses made per resource.

A frozen dataclass's generated ``__init__`` sets each field with
``object.__setattr__`` looked up per field, since its own ``__setattr__``
refuses. A plan of 10,000 files builds ~50,000 such records (resources,
changes, field diffs, live views, state rows), and that lookup is ~40% of
their construction. ``quick_init`` replaces the generated ``__init__`` with
one that sets each slot through the slot's own descriptor, found once when
the class is made. The signature (names, order, defaults, default
factories) is the dataclass's; assignment after construction still raises
``FrozenInstanceError``; equality, hashing and ``repr`` are untouched.

Only plain fields are supported: a class with ``__post_init__``, init-less,
keyword-only or ``InitVar`` fields is refused when it is defined, never
handled half-way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING
from typing import Any, TypeVar

__all__ = ["quick_init"]

T = TypeVar("T")
_POSITIONAL, _KEYWORD = "positional or keyword", "keyword only"


class _Factory:
    """The default of a parameter whose field has a default factory (shown as the
    dataclass shows it: ``<factory>``)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` setting slots directly."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"quick_init: {cls.__name__} is not a frozen, slotted dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or _parameters(cls) != [
            (f.name, _POSITIONAL) for f in fields]:
        raise TypeError(f"quick_init: {cls.__name__} has fields it does not support")
    env: dict[str, Any] = {"_FACTORY": _FACTORY}
    signature: list[str] = []
    body: list[str] = []
    for f in fields:
        name = f.name
        env[f"_set_{name}"] = vars(cls)[name].__set__  # the slot's member descriptor
        if f.default is not MISSING:
            env[f"_default_{name}"] = f.default
            signature.append(f"{name}=_default_{name}")
        elif f.default_factory is not MISSING:
            env[f"_factory_{name}"] = f.default_factory
            signature.append(f"{name}=_FACTORY")
            body.append(f"if {name} is _FACTORY: {name} = _factory_{name}()")
        else:
            signature.append(name)
        body.append(f"_set_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(signature)}):\n    " + "\n    ".join(body)
    exec(source, env)  # the text is built above from the field names only
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method
    return cls


def _parameters(cls: type) -> list[tuple[str, Any]]:
    """The generated ``__init__``'s parameters (after ``self``) and their kinds: one
    per field, positional or keyword, when every field is a plain init field. Read
    from its code object (``inspect.signature`` costs ~50 us a class at import)."""
    code = vars(cls)["__init__"].__code__
    names = code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount]
    kinds = [_POSITIONAL] * (code.co_argcount - 1) + [_KEYWORD] * code.co_kwonlyargcount
    return list(zip(names, kinds, strict=True))
