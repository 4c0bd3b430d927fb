"""The Jinja2 sandbox rule templates run in, bounded: no template can compute a large value
or run long, whoever wrote it.

Jinja's sandbox stops attribute tricks but not arithmetic: `{{ 7**(10**7) }}` takes seconds
and `{{ 'a' * 5*10**8 }}` half a gigabyte. Here `*`, `**`, `+`, `%` and `~` check the size
of their result before computing it, `range` is short, the filters and string methods that
pad or repeat check their width, and rendering stops after `RENDER_SECONDS` or
`RENDER_CHARS`. A constant expression past a bound is refused when the rules load.
"""

from __future__ import annotations

import operator
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Impossible
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from alerter.clock import Monotonic, system_monotonic

MAX_VALUE_CHARS = 10_000  # a string or list a template computes
MAX_INT_BITS = 4_096  # about 1,200 decimal digits
MAX_RANGE = 1_000
RENDER_SECONDS = 0.1
RENDER_CHARS = 10_000

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "+": operator.add,
    "%": operator.mod,
}
# printf-style conversions with a width or precision: `%08.3f`, `%*d`, `%(name)20s`.
_PRINTF_SIZES = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
# str.format fields with a width or precision: `{:>20}`, `{0:.5}`, `{x:{w}}`.
_FORMAT_SIZES = re.compile(r"\{[^{}]*:[^{}]*?(\{|\d{5,})")


class TooLarge(SecurityError):
    """A template asked for a value past a bound."""


class RenderStopped(SecurityError):
    """A template ran past its time."""


def _sized(value: object) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def check_binop(op: str, left: Any, right: Any) -> None:
    """Raises `TooLarge` when `left op right` would be larger than the bounds."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
    if op == "**" and ints:
        if abs(left) > 1 and right > 0 and right * abs(left).bit_length() > MAX_INT_BITS:
            raise TooLarge(f"{op}: a number over {MAX_INT_BITS} bits")
    elif op == "*":
        if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TooLarge(f"{op}: a number over {MAX_INT_BITS} bits")
        for seq, times in ((left, right), (right, left)):
            size = _sized(seq)
            if size is not None and isinstance(times, int) and size * times > MAX_VALUE_CHARS:
                raise TooLarge(f"{op}: a value over {MAX_VALUE_CHARS:,} long")
    elif op == "+":
        sizes = (_sized(left), _sized(right))
        if None not in sizes and sum(s or 0 for s in sizes) > MAX_VALUE_CHARS:
            raise TooLarge(f"{op}: a value over {MAX_VALUE_CHARS:,} long")
    elif op == "%" and isinstance(left, str):
        _check_widths(_PRINTF_SIZES.findall(left))


def _check_widths(found: Iterable[tuple[str, ...] | str]) -> None:
    for groups in found:
        for size in (groups,) if isinstance(groups, str) else groups:
            if size == "*" or size == "{" or (size.isdigit() and int(size) > MAX_VALUE_CHARS):
                raise TooLarge(f"a width over {MAX_VALUE_CHARS:,} (or one given as a value)")


def _check_concat(parts: Iterable[object]) -> list[str]:
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_VALUE_CHARS:
        raise TooLarge(f"~: a value over {MAX_VALUE_CHARS:,} long")
    return texts


def bounded_range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_RANGE:
        raise TooLarge(f"range of more than {MAX_RANGE:,} numbers")
    return found


# String methods (and filters) that pad to a width or repeat: checked before they run.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    obj = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format in a function
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS and args and isinstance(args[0], int):
        if args[0] > MAX_VALUE_CHARS:
            raise TooLarge(f"{name}: a width over {MAX_VALUE_CHARS:,}")
    elif name == "expandtabs":
        if owner.count("\t") * int((args or (8,))[0]) > MAX_VALUE_CHARS:
            raise TooLarge(f"{name}: a value over {MAX_VALUE_CHARS:,} long")
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, str(args[0]), str(args[1]))
    elif name == "join" and args:
        _check_join(owner, args[0])
    elif name in ("format", "format_map"):
        _check_widths(groups for groups in _FORMAT_SIZES.findall(owner))


def _check_replace(text: str, old: str, new: str) -> None:
    hits = text.count(old) if old else len(text) + 1
    if len(text) + hits * max(0, len(new) - len(old)) > MAX_VALUE_CHARS:
        raise TooLarge(f"replace: a value over {MAX_VALUE_CHARS:,} long")


def _check_join(separator: str, items: object) -> None:
    if not isinstance(items, (list, tuple, range, str)):
        return  # a generator or mapping: bounded by what made it
    total = len(separator) * max(0, len(items) - 1) + sum(len(str(i)) for i in items)
    if total > MAX_VALUE_CHARS:
        raise TooLarge(f"join: a value over {MAX_VALUE_CHARS:,} long")


class _BoundedCodeGenerator(CodeGenerator):
    """`a ~ b` through `environment.concat`, which checks the length first."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset(_BINOPS)
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = bounded_range
        filters = self.filters
        for name in ("center", "indent", "format", "replace", "join"):
            filters[name] = _bounded_filter(name, filters[name])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return _BINOPS[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def concat(self, parts: Iterable[object]) -> str:
        return "".join(_check_concat(parts))


def _bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, its size checked first (`center(10**9)`, `indent(10**9)`, ...)."""

    def check(args: tuple[Any, ...]) -> None:
        value, rest = (str(args[0]) if args else ""), args[1:]
        if name in ("center", "indent") and rest and isinstance(rest[0], int):
            lines = value.count("\n") + 1
            if rest[0] * lines > MAX_VALUE_CHARS:
                raise TooLarge(f"{name}: a value over {MAX_VALUE_CHARS:,} long")
        elif name == "format":
            _check_widths(_PRINTF_SIZES.findall(value))
        elif name == "replace" and len(rest) >= 2:
            _check_replace(value, str(rest[0]), str(rest[1]))
        elif name == "join":
            _check_join(str(rest[0]) if rest else "", args[0] if args else ())

    passed = getattr(original, "jinja_pass_arg", None)  # an eval context or environment

    def bounded(*args: Any, **kwargs: Any) -> Any:
        check(args[1:] if passed is not None else args)
        return original(*args, **kwargs)

    if passed is not None:
        setattr(bounded, "jinja_pass_arg", passed)  # noqa: B010
    bounded.__name__ = getattr(original, "__name__", name)
    return bounded


def constant_problem(parsed: nodes.Template) -> str | None:
    """Why a constant expression of the template is past a bound (`{{ 7**(10**7) }}`), or
    None: what can be told before any render."""
    for node in parsed.find_all((nodes.BinExpr, nodes.Concat)):
        try:
            _fold(node)
        except TooLarge as exc:
            return str(exc)
        except Impossible:
            continue
    return None


def _fold(node: nodes.Node) -> Any:
    """The node's value if it is constant, checked on the way up; else `Impossible`."""
    if isinstance(node, nodes.BinExpr) and node.operator in _BINOPS:
        left, right = _fold(node.left), _fold(node.right)
        check_binop(node.operator, left, right)
        try:
            return _BINOPS[node.operator](left, right)
        except Exception as exc:
            raise Impossible() from exc
    if isinstance(node, nodes.Concat):
        return "".join(_check_concat(_fold(part) for part in node.nodes))
    if isinstance(node, nodes.Expr):
        return node.as_const()
    raise Impossible()


def render_bounded(
    template: Any, context: Mapping[str, Any], monotonic: Monotonic = system_monotonic
) -> str:
    """The template's text, stopped at `RENDER_CHARS` characters or `RENDER_SECONDS`
    (checked on every line the template's code runs: a loop that prints nothing stops
    too); raises `RenderStopped` when time ran out."""
    deadline = monotonic() + RENDER_SECONDS

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if monotonic() > deadline:
            raise RenderStopped(f"rendering took over {RENDER_SECONDS * 1000:.0f} ms")
        return tracer

    pieces: list[str] = []
    size = 0
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        stream = template.generate(context)
        try:
            for piece in stream:
                pieces.append(piece)
                size += len(piece)
                if size >= RENDER_CHARS:
                    break
        finally:
            stream.close()
    finally:
        sys.settrace(previous)
    return "".join(pieces)[:RENDER_CHARS]
