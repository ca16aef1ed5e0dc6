"""``record``: a dataclass defined at half the cost, for the classes every command loads.

Why: ``dataclasses.dataclass`` compiles each method it writes on its own:
``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and, for a frozen class,
``__setattr__`` and ``__delattr__``. That is ~0.45 ms a class, and a plan
defines ~60 of them before it reads a file: a third of its start-up.
``record`` asks ``dataclass`` for the class alone (fields, slots,
``__match_args__``; mutable, with no methods) and writes the methods itself,
from one compiled text, the way ``dataclass`` writes them:

- ``__init__``: the same parameters, defaults and default factories (a new
  value per call), then ``__post_init__`` when the class has one. A frozen
  class's fields are set with ``object.__setattr__``, a slotted class's
  through each slot's own descriptor (found once: the records made per
  resource build ~40% faster), a mutable one's by assignment;
- ``__repr__``: ``Name(field=value!r, ...)`` of the fields shown
  (``repr=False`` leaves one out), ``...`` where it recurses;
- ``__eq__``: same class and equal fields, of those that compare;
- ``__hash__``: a frozen record hashes the fields that compare (or
  ``hash=True``); a mutable one is unhashable, as a dataclass with ``eq``;
- frozen: ``__setattr__`` and ``__delattr__`` raise ``FrozenInstanceError``
  for its fields, and a slotted record gets the ``__getstate__`` and
  ``__setstate__`` that let copies and pickles restore them.

The class is a real dataclass: ``dataclasses.fields``, ``replace`` and
``asdict`` work on it (its ``__dataclass_params__`` say mutable, which only
``dataclass`` itself reads: a plain frozen dataclass cannot subclass a
record). A method the class body defines itself is kept, as ``dataclass``
keeps it (an ``__eq__`` of its own still gets the fields' ``__hash__`` when
frozen, unless it defines that too). What ``record`` would not write as
``dataclass`` does is refused when the class is defined (``TypeError``):
keyword-only, init-less or ``InitVar`` fields, and a frozen class with its
own ``__setattr__`` or ``__delattr__``.

Compiling those texts was still ~12 ms of every command's start (55 classes).
So the compiled code of each text is kept between runs, the way Python keeps a
module's: ``save_compiled`` (the CLI calls it as a command ends) writes what
this process compiled to ``$XDG_CACHE_HOME/driftless/records-<python>.bin``
(``~/.cache``), under the interpreter's bytecode magic number, and the next
process loads that file once and runs the code it holds for the very same
text, compiling only a text it does not hold. A file that is missing,
damaged, of another interpreter, not the user's own or writable by others is
ignored. I/O: reads that one file once per process; ``save_compiled`` writes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import os
import reprlib
import sys
import types
from collections.abc import Callable
from dataclasses import MISSING, Field, field
from importlib.util import MAGIC_NUMBER
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record", "save_compiled"]

T = TypeVar("T")
_OWN = ("__init__", "__repr__", "__eq__", "__hash__")
_FROZEN = ("__setattr__", "__delattr__", "__getstate__", "__setstate__")
_INITVAR = getattr(dataclasses, "_FIELD_INITVAR", None)


class _Factory:
    """The default of a parameter whose field has a default factory (shown as the
    dataclass shows it: ``<factory>``)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = True, slots: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(cls: Any = None, /, *, frozen: bool = True, slots: bool = False) -> Any:
    """``@dataclass(frozen=True)`` (``frozen=False``: a mutable one; ``slots=True``:
    slotted), its four methods written in one compile."""
    def make(target: type[T]) -> type[T]:
        own = {name for name in (*_OWN, *_FROZEN) if name in vars(target)}
        if frozen and own & {"__setattr__", "__delattr__"}:
            raise TypeError(f"record: frozen {target.__name__} defines its own __setattr__ "
                            "or __delattr__")
        if vars(target).get("__hash__", 0) is None and "__eq__" in own:
            own.discard("__hash__")  # Python's own None for a class with only __eq__
        if target.__doc__ is None:  # else ``dataclass`` asks ``inspect.signature``
            # for one (~1 ms a class, and tokenize's patterns compiled the first time)
            target.__doc__ = f"{target.__name__}({', '.join(_annotated(target))})"
        # frozen=False: ``dataclass`` would compile __setattr__ and __delattr__ apart
        made = dataclasses.dataclass(target, init=False, repr=False, eq=False, slots=slots)
        _write_methods(made, frozen=frozen, own=own)
        return made

    return make if cls is None else make(cls)


def _annotated(cls: type) -> list[str]:
    """The names the class body annotates (its fields, before ``dataclass`` sorts
    out which are), for the docstring of a class that has none."""
    return list(vars(cls).get("__annotations__", {}))


def _write_methods(cls: type, *, frozen: bool, own: set[str]) -> None:
    """Add ``__init__``, ``__repr__``, ``__eq__`` and ``__hash__`` to dataclass ``cls``,
    but those in ``own`` (its body's own). The names the text uses besides the
    fields start with ``__record_``, so no field name can shadow them."""
    fields = _plain_fields(cls)
    env: dict[str, Any] = {"__record_factory": _FACTORY,
                           "__record_setattr": object.__setattr__}
    compared = [f.name for f in fields if f.compare]
    hashed = [f.name for f in fields if (f.compare if f.hash is None else f.hash)]
    shown = ", ".join(f"{f.name}={{self.{f.name}!r}}" for f in fields if f.repr)
    names = tuple(f.name for f in fields)
    source = "\n".join([
        *_init_source(cls, fields, frozen, env),
        *(_frozen_source(cls, names, env) if frozen else ()),
        "def __repr__(self):",
        f'    return self.__class__.__qualname__ + f"({shown})"',
        "def __eq__(self, other):",
        "    if other.__class__ is self.__class__:",
        f"        return {_tuple('self', compared)} == {_tuple('other', compared)}",
        "    return NotImplemented",
        "def __hash__(self):",
        f"    return hash({_tuple('self', hashed)})",
    ])
    exec(_COMPILED.code(source), env)  # the text is built above from the field names only
    env["__init__"].__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    env["__repr__"] = reprlib.recursive_repr()(env["__repr__"])
    for name in (*_OWN, *(_FROZEN if frozen else ())):
        if name in own or name not in env:
            continue
        method = env[name]
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        method.__module__ = cls.__module__
        setattr(cls, name, method)
    if not frozen and "__hash__" not in own:
        cls.__hash__ = None  # type: ignore[assignment]  # mutable and equal by value


def _frozen_source(cls: type, names: tuple[str, ...], env: dict[str, Any]) -> list[str]:
    """``__setattr__`` and ``__delattr__`` refusing to change a field (any attribute of
    the class itself), as ``dataclass(frozen=True)`` writes them; a slotted class also
    gets the ``__getstate__`` and ``__setstate__`` it adds, so copies and pickles
    restore the fields without assigning them."""
    env.update({"__record_cls": cls, "__record_names": names,
                "__record_frozen": dataclasses.FrozenInstanceError,
                "__record_fields": dataclasses.fields})
    lines = []
    for method, args, verb in (("__setattr__", "name, value", "assign to"),
                               ("__delattr__", "name", "delete")):
        lines += [f"def {method}(self, {args}):",
                  "    if type(self) is __record_cls or name in __record_names:",
                  f'        raise __record_frozen(f"cannot {verb} field {{name!r}}")',
                  f"    super(__record_cls, self).{method}({args})"]
    if "__slots__" in vars(cls):
        lines += ["def __getstate__(self):",
                  "    return [getattr(self, f.name) for f in __record_fields(self)]",
                  "def __setstate__(self, state):",
                  "    for f, value in zip(__record_fields(self), state):",
                  "        __record_setattr(self, f.name, value)"]
    return lines


def _init_source(cls: type, fields: tuple[Field[Any], ...], frozen: bool,
                 env: dict[str, Any]) -> list[str]:
    """The lines of ``__init__``; defaults and setters go to ``env``. The instance is
    ``self`` unless a field is named so (as in ``dataclass``)."""
    me = "__record_self__" if any(f.name == "self" for f in fields) else "self"
    params, body = [me], []
    for f in fields:
        name = f.name
        if f.default is not MISSING:
            env[f"__record_default_{name}"] = f.default
            params.append(f"{name}=__record_default_{name}")
        elif f.default_factory is not MISSING:
            env[f"__record_factory_{name}"] = f.default_factory
            params.append(f"{name}=__record_factory")
            body.append(f"if {name} is __record_factory: {name} = __record_factory_{name}()")
        else:
            params.append(name)
        body.append(_assign(cls, me, name, frozen, env))
    if hasattr(cls, "__post_init__"):
        body.append(f"{me}.__post_init__()")
    return [f"def __init__({', '.join(params)}):", *(f"    {b}" for b in body or ["pass"])]


def _plain_fields(cls: type) -> tuple[Field[Any], ...]:
    """``cls``'s fields, when each is one ``record`` writes as ``dataclass`` would."""
    fields = dataclasses.fields(cls)
    declared = vars(cls)["__dataclass_fields__"].values()
    odd = [f.name for f in fields if f.kw_only is True or not f.init]
    odd += [f.name for f in declared if _INITVAR is not None
            and getattr(f, "_field_type", None) is _INITVAR]
    if odd:
        raise TypeError(f"record: {cls.__name__} has keyword-only, init-less or InitVar "
                        f"field(s) {', '.join(odd)}")
    return fields


def _assign(cls: type, me: str, name: str, frozen: bool, env: dict[str, Any]) -> str:
    """The ``__init__`` line that sets field ``name`` of instance ``me``: through the
    slot's descriptor when ``cls`` has one for it, else as the dataclass would."""
    slot = next((vars(k)[name] for k in cls.__mro__ if name in vars(k)), None)
    if isinstance(slot, types.MemberDescriptorType):
        env[f"__record_set_{name}"] = slot.__set__
        return f"__record_set_{name}({me}, {name})"
    if frozen:
        return f"__record_setattr({me}, {name!r}, {name})"
    return f"{me}.{name} = {name}"


def _tuple(owner: str, names: list[str]) -> str:
    """``(owner.a,owner.b,)``: the text of a tuple of attributes."""
    return "(" + "".join(f"{owner}.{name}," for name in names) + ")"



class _Compiled:
    """The code of each method text: kept between runs (module docstring)."""

    __slots__ = ("codes", "loaded", "made")

    def __init__(self) -> None:
        self.codes: dict[str, types.CodeType] = {}
        self.loaded = False
        self.made = False  # compiled a text the file did not hold

    def code(self, source: str) -> types.CodeType:
        """The compiled ``source``, from the file when it holds it."""
        if not self.loaded:
            self.loaded = True
            self.codes = _load_compiled(_compiled_path())
        found = self.codes.get(source)
        if found is None:
            found = self.codes[source] = compile(source, "<string>", "exec")
            self.made = True
        return found


_COMPILED = _Compiled()


def _compiled_path() -> str:
    """``$XDG_CACHE_HOME/driftless/records-<cache tag>.bin`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    tag = sys.implementation.cache_tag or "python"
    return os.path.join(base, "driftless", f"records-{tag}.bin")


def _load_compiled(path: str) -> dict[str, types.CodeType]:
    """The codes the file holds; none when it is missing, damaged, of another
    interpreter, or not a file of this user's that only this user can write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, ValueError):
        return {}
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o022 or st.st_size > 1 << 24:
            return {}
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read()
    except OSError:
        return {}
    finally:
        os.close(fd)
    if not data.startswith(MAGIC_NUMBER):
        return {}
    try:
        found = marshal.loads(data[len(MAGIC_NUMBER):])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items()
            if isinstance(k, str) and isinstance(v, types.CodeType)}


def save_compiled() -> None:
    """Keep the codes this process compiled for the next one (temp file + rename,
    mode 0600); nothing when it compiled none. Best effort: a cache directory that
    cannot be written only costs the next process its compiles."""
    if not _COMPILED.made:
        return
    _COMPILED.made = False
    path = _compiled_path()
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC_NUMBER + marshal.dumps(_COMPILED.codes))
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)

