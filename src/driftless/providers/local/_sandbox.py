"""The Jinja2 sandbox every template in driftless renders in.

Templates come from untrusted repositories and render at plan time (on every
pull request), so ``BoundedSandbox`` is the immutable Jinja2 sandbox (no
Python internals, no mutation of inputs) plus limits checked *before* work
is done: the size of every string or list an operator, method or filter
builds, loop steps, total output and wall-clock time. Each limit is an error
naming it. No I/O: the environment has no loader, so nothing can be included.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Final

import jinja2
from jinja2 import nodes, pass_context, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment, safe_range

from driftless.errors import ProviderError
from driftless.model import ResourceId
from driftless.records import record

__all__ = [
    "MAX_LOOP_STEPS", "MAX_OUTPUT_CHARS", "MAX_RENDER_SECONDS", "MAX_VALUE_CHARS",
    "BoundedSandbox", "TemplateLimit", "render_template",
]

MAX_VALUE_CHARS: Final = 4 * 1024 * 1024
"""The longest string or list one template operation may build (4 Mi items)."""
MAX_OUTPUT_CHARS: Final = 16 * 1024 * 1024
"""All text a render may produce, macro and ``{% set %}`` bodies included."""
MAX_LOOP_STEPS: Final = 1_000_000
"""Loop iterations a render may take, over every ``{% for %}`` together."""
MAX_RENDER_SECONDS: Final = 10.0
"""Wall-clock time a render may take (checked at every call, operator and loop step)."""
MAX_JSON_INDENT: Final = 16

_BUDGET = "_driftless_budget"
_STEP_FILTER = "_driftless_step"
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimit(SecurityError):
    """A template tried to build or do more than a limit allows."""


def _limit(what: str, size: int) -> None:
    """Refuse an operation *before* it allocates: the sizes come from its inputs."""
    if size > MAX_VALUE_CHARS:
        raise TemplateLimit(f"{what} would build {size:,} characters or items, over the "
                            f"limit of {MAX_VALUE_CHARS:,} (4 MiB)")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


@record(frozen=False)
class _Budget:
    """One render's allowance of loop steps, output and time (kept on its Context)."""

    deadline: float
    steps: int = 0
    emitted: int = 0

    def tick(self) -> None:
        """Called at every call, operator and loop step: stop a runaway render."""
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"rendering took over {MAX_RENDER_SECONDS:g}s "
                                "(the render time limit)")

    def step(self) -> None:
        """One loop iteration."""
        self.steps += 1
        if self.steps > MAX_LOOP_STEPS:
            raise TemplateLimit(f"loops ran over {MAX_LOOP_STEPS:,} iterations "
                                "(the loop step limit)")
        self.tick()

    def emit(self, size: int) -> None:
        """Some output was produced (possibly into a buffer)."""
        self.emitted += size
        if self.emitted > MAX_OUTPUT_CHARS:
            raise TemplateLimit(f"output is over {MAX_OUTPUT_CHARS:,} characters "
                                "(the 16 MiB output limit)")


def _budget(context: Context) -> _Budget:
    """The render's budget; a context without one (never made by us) is refused."""
    budget = getattr(context, _BUDGET, None)
    if not isinstance(budget, _Budget):
        raise TemplateLimit("template rendered outside its budget")
    return budget


def _binop_size(op: str, left: Any, right: Any) -> int:
    """The size ``left op right`` would have, computed without building it."""
    if op == "*":
        if isinstance(right, int) and _length(left):
            return _length(left) * right
        if isinstance(left, int) and _length(right):
            return _length(right) * left
    elif op == "+":
        return _length(left) + _length(right)
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        return abs(left).bit_length() * right // 8  # bytes of the resulting integer
    elif op == "%" and isinstance(left, str):
        return _percent_size(left, right)
    return 0


def _percent_size(fmt: str, args: Any) -> int:
    """Roughly how long ``fmt % args`` is: the format, its widths and the arguments."""
    widths = 0
    for match in _PERCENT.finditer(fmt):
        if "*" in match.groups():
            raise TemplateLimit("'*' widths in % formatting are not allowed")
        widths += sum(int(g) for g in match.groups() if g)
    items = args if isinstance(args, tuple) else tuple(args.values()) if isinstance(
        args, Mapping) else (args,)
    return len(fmt) + widths + sum(_length(a) for a in items)


def _format_size(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Roughly how long ``fmt.format(...)`` is; nested width fields are refused."""
    widths = 0
    for _text, _field, spec, _conv in string.Formatter().parse(fmt):
        if spec and "{" in spec:
            raise TemplateLimit("nested fields in a format spec are not allowed")
        widths += sum(int(n) for n in re.findall(r"\d+", spec or ""))
    return len(fmt) + widths + sum(_length(a) for a in (*args, *kwargs.values()))


def _replace_size(s: str, old: str, new: str, count: Any = None) -> int:
    """How long ``s.replace(old, new, count)`` is, counted before replacing."""
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(len(new) - len(old), 0)


def _call_size(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """The size a call to a str/bytes/int method would build (0: not sized here)."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    wrapped = getattr(obj, "__wrapped__", None)
    if isinstance(getattr(wrapped, "__self__", None), str) and name in ("format", "format_map"):
        fmt = wrapped.__self__  # type: ignore[union-attr]
        return _format_size(fmt, args, args[0] if name == "format_map" and args else kwargs)
    if not isinstance(owner, str | bytes | int | float):
        return 0
    if name == "replace" and isinstance(owner, str) and len(args) >= 2:
        return _replace_size(owner, str(args[0]), str(args[1]), args[2] if args[2:] else None)
    if name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        return _length(owner) * tab if isinstance(tab, int) else 0
    return max((a for a in (*args, *kwargs.values()) if isinstance(a, int)), default=0)


def _safe_range(*args: int) -> range:
    """``range``, capped at jinja's MAX_RANGE items (an error, not an allocation)."""
    try:
        return safe_range(*args)
    except OverflowError:
        raise TemplateLimit(f"range() over {MAX_RANGE:,} items (the range limit)") from None


@pass_context
def _counted(context: Context, iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: each step counts and checks time."""
    budget = _budget(context)
    for item in iterable:
        budget.step()
        yield item


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``~`` and every output through the environment, so both are bounded."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """``a ~ b`` becomes ``environment.concat_bounded(context, (a, b))``."""
        self.write("environment.concat_bounded(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        return f"environment.emitted(context, {super()._output_const_repr(group)})"

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        self.write("environment.emitted(context, ")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_post(node, frame, finalize)
        self.write(")")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on size, loop steps, output and time.

    Repositories are untrusted and ``driftless plan`` renders their templates
    on every pull request: a template may not reach Python internals (the
    sandbox), mutate its inputs (immutable), or exhaust memory or CPU (the
    bounds here, each an error naming its limit).
    """

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                         autoescape=False)
        self.globals["range"] = _safe_range
        del self.globals["lipsum"]  # lipsum(n, max=...) builds unbounded text
        self.filters.update(_BOUNDED_FILTERS)
        self.filters[_STEP_FILTER] = _counted

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then route every loop's iterable through the step counter."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _STEP_FILTER, [], [], None, None,
                                     lineno=loop.lineno)
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse a result over the size limit before computing it."""
        _budget(context).tick()
        _limit(f"'{operator}'", _binop_size(operator, left, right))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any,  # jinja names these so kwargs never clash
             *args: Any, **kwargs: Any) -> Any:
        """Check time and the size a method would build, then call it."""
        _budget(__context).tick()
        if getattr(__obj, "__name__", "") == "join" and isinstance(
                getattr(__obj, "__self__", None), str) and len(args) == 1:
            args = (list(args[0]),)
            _limit("join", _join_size(__obj.__self__, args[0]))
        _limit(f"{getattr(__obj, '__name__', 'call')}()", _call_size(__obj, args, kwargs))
        return super().call(__context, __obj, *args, **kwargs)

    def concat_bounded(self, context: Context, parts: tuple[Any, ...]) -> str:
        """``~``: strings joined, refused over the size limit."""
        _budget(context).tick()
        texts = [str(p) for p in parts]
        _limit("'~'", sum(len(t) for t in texts))
        return "".join(texts)

    def emitted(self, context: Context, text: str) -> str:
        """Count output (into the result or a buffer) against the output limit."""
        _budget(context).emit(len(text))
        return text


def _join_size(sep: str, items: list[Any]) -> int:
    return len(sep) * len(items) + sum(_length(i) or 24 for i in items)


def _f_center(value: Any, width: int = 80) -> str:
    _limit("center", width if isinstance(width, int) else 0)
    return str(DEFAULT_FILTERS["center"](value, width))


def _f_indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    pad = width if isinstance(width, int) else len(str(width))
    _limit("indent", len(text) + (text.count("\n") + 1) * pad)
    return str(DEFAULT_FILTERS["indent"](s, width, first, blank))


def _f_format(value: Any, *args: Any, **kwargs: Any) -> str:
    _limit("format", _percent_size(str(value), kwargs or args))
    return str(DEFAULT_FILTERS["format"](value, *args, **kwargs))


@pass_eval_context
def _f_replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: Any = None) -> str:
    _limit("replace", _replace_size(str(s), str(old), str(new), count))
    return str(DEFAULT_FILTERS["replace"](eval_ctx, s, old, new, count))


@pass_eval_context
def _f_join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    _limit("join", _join_size(str(d), items))
    return str(DEFAULT_FILTERS["join"](eval_ctx, items, d, attribute))


@pass_environment
def _f_sum(environment: Environment, iterable: Any, attribute: Any = None,
           start: Any = 0) -> Any:
    items = list(iterable)
    if not isinstance(start, int | float):  # list/str sums copy quadratically
        _limit("sum", len(items) * (_length(start) + sum(_length(i) for i in items)) // 16)
    return DEFAULT_FILTERS["sum"](environment, items, attribute, start)


def _f_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    _limit("batch", linecount if isinstance(linecount, int) else 0)
    return DEFAULT_FILTERS["batch"](value, linecount, fill_with)


def _f_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    _limit("slice", slices if isinstance(slices, int) else 0)
    return DEFAULT_FILTERS["slice"](value, slices, fill_with)


@pass_eval_context
def _f_tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Any:
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise TemplateLimit(f"tojson indent over {MAX_JSON_INDENT}")
    return DEFAULT_FILTERS["tojson"](eval_ctx, value, indent)


_BOUNDED_FILTERS: dict[str, Any] = {
    "center": _f_center, "indent": _f_indent, "format": _f_format, "replace": _f_replace,
    "join": _f_join, "sum": _f_sum, "batch": _f_batch, "slice": _f_slice, "tojson": _f_tojson,
}
"""Built-in filters whose output size an argument sets: checked before they run."""


@lru_cache(maxsize=1)
def _environment() -> BoundedSandbox:
    """The one sandbox (built once: building it per render costs more than rendering)."""
    return BoundedSandbox()


@lru_cache(maxsize=256)
def _compiled(text: str) -> jinja2.Template:
    """A compiled template (the same text in many resources compiles once)."""
    return _environment().from_string(text)


def _render(text: str, variables: Mapping[str, Any]) -> str:
    """Render with a fresh budget on the render's context."""
    template = _compiled(text)
    context = template.new_context(dict(variables))
    setattr(context, _BUDGET, _Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS))
    return "".join(template.root_render_func(context))


def render_template(text: str, variables: Mapping[str, Any], *, rid: ResourceId,
                    origin: str = "template", secrets: Iterable[str] = ()) -> str:
    """Render ``text`` in the bounded sandbox; errors name the resource and the
    variable, line or limit, with any of ``secrets`` masked."""
    try:
        return _render(text, variables)
    except SecurityError as exc:
        raise ProviderError(
            f"{origin}: unsafe template: {_scrub(exc.message or str(exc), secrets)}",
            resource=rid, hint="templates run sandboxed: no Python internals (names "
                               "starting with _), no changing values, bounded sizes") from None
    except jinja2.UndefinedError as exc:
        reason = _scrub(exc.message or str(exc), secrets)
        raise ProviderError(f"{origin}: undefined variable: {reason}", resource=rid,
                            hint="add it to vars, or guard it with {% if x is defined %}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ProviderError(f"{origin}:{exc.lineno}: template syntax error: {exc.message}",
                            resource=rid, hint="fix the template") from None
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
            AttributeError, RecursionError, MemoryError) as exc:
        raise ProviderError(f"{origin}: template error: {_describe(exc, secrets)}",
                            resource=rid) from None


def _describe(exc: BaseException, secrets: Iterable[str]) -> str:
    """A one-line reason: Python errors keep their type name, secrets are masked."""
    if isinstance(exc, RecursionError):
        return "too deeply nested (macro or loop recursion over Python's recursion limit)"
    text = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    return _scrub(text, secrets)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``(sensitive)``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "(sensitive)")
    return text
