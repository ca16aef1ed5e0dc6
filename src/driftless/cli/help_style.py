"""Help that reads like other command-line tools: ``TEXT``, ``PATH``, ``NAME=VALUE``.

typer's rich help prints each parameter's Python type (``<str>``,
``<list[str]>``, ``<bool>`` after every flag). Users expect the conventional
metavar column instead: an explicit ``metavar`` when the option declares one,
else the click type's name in capitals, and nothing at all for a flag or an
argument (whose name is already its metavar). ``install`` swaps typer's
display method once per process; it changes help text only, never parsing.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from typer import core as typer_core

__all__ = ["install", "metavar_of"]

_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", bool: "BOOLEAN",
                          Path: "PATH"}


def metavar_of(param: Any) -> str | None:
    """The text of a parameter's metavar column in help."""
    if isinstance(param, typer_core.TyperArgument):
        return None  # shown by name already (PATH, ADDRESS, ...)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if getattr(param, "metavar", None):
        return str(param.metavar)
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return None
    if desc.is_choice:
        return "[" + "|".join(str(c) for c in desc.choices or ()) + "]"
    if desc.is_path:
        return "PATH"
    annotation = _bare(desc.annotation)
    if desc.is_list:
        annotation = _bare((get_args(annotation) or (str,))[0])
    return _NAMES.get(annotation, "VALUE")


def _bare(annotation: Any) -> Any:
    """``X | None`` as ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _display(self: Any, ctx: Any) -> str | None:
    return metavar_of(self)


def _argument_name(self: Any) -> str:
    """An argument as usage lines name it: ``ADDRESS``, ``[PATH]``, ``FILES...``."""
    name = str(self.metavar) if self.metavar is not None else self.name.upper()
    if self.nargs != 1:
        name += "..."
    return name if self.required else f"[{name}]"


def _argument_label(self: Any) -> str:
    name = str(self.metavar) if self.metavar is not None else self.name.upper()
    return name + ("..." if self.nargs != 1 else "")


def install() -> None:
    """Use conventional metavars and argument names in every command's help."""
    typer_core.TyperOption.display_type_rich = _display  # type: ignore[method-assign]
    typer_core.TyperArgument.display_type_rich = _display  # type: ignore[method-assign]
    arg: Any = typer_core.TyperArgument
    if hasattr(arg, "_usage_display_name"):  # typer's own braces: {address} {ID}
        arg._usage_display_name = _argument_name
    if hasattr(arg, "_rich_display_name"):
        arg._rich_display_name = _argument_label
    if hasattr(arg, "display_name_raw"):  # the arguments panel and error hints
        arg.display_name_raw = property(
            lambda self: str(self.metavar) if self.metavar is not None else self.name.upper())
