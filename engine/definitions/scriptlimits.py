"""Size limits for what one C-level call in a diagram script may build.

The sandbox's time limit runs between a script's own bytecodes, so a single call into C
(``math.factorial(10**6)``, ``'x'.zfill(10**9)``, ``1 << 10**9``) would run or allocate
past it. Every call that can produce a result much larger than its inputs is therefore
checked here before it runs: operators (``+ * ** << %``), the sized string and bytes
methods, ``sum`` and the ``math`` functions. Calls whose cost is proportional to data the
script already holds stay unchecked: building that data already went through these guards
and the time limit.

Rejected alternative: a resource-limited worker process per script. Scripts read task
data and the working-day calendar in process and run many times per step (every
condition and assignment), so the round trip would cost more than the checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, NoReturn

from RestrictedPython import Guards

from engine.errors import ScriptError

MAX_SEQUENCE = 1_000_000  # items or characters one call may build
MAX_INT_BITS = 1 << 17  # about 39,000 decimal digits
MAX_FORMAT_WIDTH = 10_000  # width or precision in a format spec
MAX_FACTORIAL = 10_000  # factorial/comb/perm arguments (10000! is 35,660 digits)
MAX_MODULAR_BITS = 4096  # pow(a, b, m): b and m at most this many bits
SEQUENCES = (str, bytes, list, tuple)
_safer_getattr: Callable[..., Any] = Guards.safer_getattr


def too_large(what: str = "a value") -> NoReturn:
    raise ScriptError(f"a script tried to build {what} that is too large")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_bits(value: Any) -> int:
    return value.bit_length() if _is_int(value) else 0


# --- operators -------------------------------------------------------------------------------


def mul(a: Any, b: Any) -> Any:
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, SEQUENCES) and _is_int(count) and len(seq) * count > MAX_SEQUENCE:
            too_large("a sequence")
    if _int_bits(a) + _int_bits(b) > MAX_INT_BITS:
        too_large("a number")
    return a * b


def add(a: Any, b: Any) -> Any:
    # ``a = a + a`` doubles in one C call per step: 28 steps reach gigabytes within 2 s.
    if isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES) and len(a) + len(b) > MAX_SEQUENCE:
        too_large("a sequence")
    return a + b


def lshift(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b) and a and b > 0 and a.bit_length() + b > MAX_INT_BITS:
        too_large("a number")
    return a << b


def power(a: Any, b: Any, mod: Any = None) -> Any:
    if mod is not None:
        if _int_bits(b) > MAX_MODULAR_BITS or _int_bits(mod) > MAX_MODULAR_BITS:
            too_large("a number")
        return pow(a, b, mod)
    if _is_int(a) and _is_int(b) and abs(a) > 1 and b > 0 and a.bit_length() * b > MAX_INT_BITS:
        too_large("a number")
    return a**b


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_width(number: str) -> None:
    if number == "*" or len(number) > 5 or int(number) > MAX_FORMAT_WIDTH:
        too_large("a formatted text")


def modulo(a: Any, b: Any) -> Any:
    # ``'%1000000000d' % 1`` pads to a gigabyte in one call.
    if isinstance(a, str | bytes):
        _check_weight(b if isinstance(b, tuple | dict) else (b,), "a formatted text")
        text = a.decode("latin-1") if isinstance(a, bytes) else a
        for match in _PRINTF_SPEC.finditer(text):
            for number in match.groups():
                if number:
                    _check_width(number)
    return a % b


def check_format_spec(spec: str) -> str | None:
    """Why an f-string's format spec is refused (a width past the limit), or None."""
    for number in re.findall(r"\d+", spec):
        if len(number) > 5 or int(number) > MAX_FORMAT_WIDTH:
            return f"the format width {number} is too large (at most {MAX_FORMAT_WIDTH})"
    return None


# --- methods ---------------------------------------------------------------------------------


def _width_method(name: str) -> Callable[[Any], Callable[..., Any]]:
    def bind(obj: Any) -> Callable[..., Any]:
        method = getattr(obj, name)

        def guarded(width: int, *args: Any) -> Any:
            if _is_int(width) and width > MAX_SEQUENCE:
                too_large("a text")
            return method(width, *args)

        return guarded

    return bind


def _expandtabs(obj: Any) -> Callable[..., Any]:
    def guarded(tabsize: int = 8) -> Any:
        if _is_int(tabsize) and len(obj) * max(tabsize, 1) > MAX_SEQUENCE:
            too_large("a text")
        return obj.expandtabs(tabsize)

    return guarded


def _replace(obj: Any) -> Callable[..., Any]:
    def guarded(old: Any, new: Any, count: int = -1) -> Any:
        if isinstance(old, str | bytes) and isinstance(new, str | bytes):
            hits = obj.count(old) if old else len(obj) + 1
            if count >= 0:
                hits = min(hits, count)
            if len(obj) + hits * max(len(new) - len(old), 0) > MAX_SEQUENCE:
                too_large("a text")
        return obj.replace(old, new, count)

    return guarded


def _join(obj: Any) -> Callable[..., Any]:
    def guarded(items: Iterable[Any]) -> Any:
        items = list(items)
        total = len(obj) * max(len(items) - 1, 0)
        total += sum(len(i) for i in items if isinstance(i, str | bytes))
        if total > MAX_SEQUENCE:
            too_large("a text")
        return obj.join(items)

    return guarded


def _extend(obj: Any) -> Callable[..., Any]:
    def guarded(items: Iterable[Any]) -> Any:
        items = list(items)
        if len(obj) + len(items) > MAX_SEQUENCE:
            too_large("a sequence")
        return obj.extend(items)

    return guarded


def _to_bytes(obj: Any) -> Callable[..., Any]:
    def guarded(length: int = 1, *args: Any, **kwargs: Any) -> Any:
        if _is_int(length) and length > MAX_SEQUENCE:
            too_large("a byte string")
        return obj.to_bytes(length, *args, **kwargs)

    return guarded


_TEXT_METHODS: dict[str, Callable[[Any], Callable[..., Any]]] = {
    **{name: _width_method(name) for name in ("ljust", "rjust", "center", "zfill")},
    "expandtabs": _expandtabs, "replace": _replace, "join": _join,
}
# translate maps one character to any text: no cheap bound, and diagrams have no need.
_DENIED_TEXT_METHODS = frozenset({"translate", "maketrans"})


def guarded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    """RestrictedPython's ``safer_getattr`` plus size checks on the sized methods."""
    if isinstance(obj, type) and issubclass(obj, str | bytes | int | list) and (
            name in _TEXT_METHODS or name in _DENIED_TEXT_METHODS
            or name in ("to_bytes", "extend")):
        raise ScriptError(f"{obj.__name__}.{name} is not available in diagram scripts; "
                          "call it on a value")
    if isinstance(obj, str | bytes):
        if name in _DENIED_TEXT_METHODS:
            raise ScriptError(f"the {name} method is not available in diagram scripts")
        if name in _TEXT_METHODS:
            return _TEXT_METHODS[name](obj)
    elif isinstance(obj, list) and name == "extend":
        return _extend(obj)
    elif _is_int(obj) and name == "to_bytes":
        return _to_bytes(obj)
    return _safer_getattr(obj, name, default)


# --- whole values: printing, sorting ---------------------------------------------------------

MAX_WEIGHT = 10_000_000  # characters a value would print as, or compare over when sorted


def _weight(value: Any, budget: int = MAX_WEIGHT) -> int:
    """About how many characters ``value`` prints as; stops counting past ``budget``.

    Shared references count each time they occur: ``[big] * 1000`` prints ``big`` 1,000
    times, which is what makes ``str()`` of a small list build gigabytes in one C call.
    """
    total, todo = 0, [value]
    while todo and total <= budget:
        item = todo.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + len(item)
            todo.extend(item)
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            todo.extend(item.keys())
            todo.extend(item.values())
        elif _is_int(item):
            total += item.bit_length() // 3 + 1
        else:
            total += 24
    return total


def _check_weight(value: Any, what: str) -> None:
    if isinstance(value, list | tuple | set | frozenset | dict) and _weight(value) > MAX_WEIGHT:
        too_large(what)


def safe_str(*args: Any, **kwargs: Any) -> str:
    if args:
        _check_weight(args[0], "a text")
    return str(*args, **kwargs)


def safe_repr(value: Any) -> str:
    _check_weight(value, "a text")
    return repr(value)


def formatted(value: Any) -> Any:
    """The value of an f-string's ``{...}``, once its printed size is known to be bounded."""
    _check_weight(value, "a text")
    return value


def _ordered(function: Callable[..., Any]) -> Callable[..., Any]:
    # Sorting compares element by element in C: a million references to one long string
    # compare a terabyte. The weight bounds the bytes compared.
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            items = list(args[0])
            _check_weight(items, "a sort")
            return function(items, **kwargs)
        _check_weight(list(args), "a sort")
        return function(*args, **kwargs)

    return guarded


safe_sorted, safe_min, safe_max = _ordered(sorted), _ordered(min), _ordered(max)


# --- builtins and math -----------------------------------------------------------------------


def bounded_range(*args: int) -> range:
    # ``list(range(10**10))`` would exhaust memory inside one C call.
    result = range(*args)
    if len(result) > MAX_SEQUENCE:
        too_large("a sequence")
    return result


def safe_sum(items: Iterable[Any], start: Any = 0) -> Any:
    # sum(lists, []) copies quadratically inside one C call.
    if not isinstance(start, int | float | complex):
        raise ScriptError("sum() adds numbers only in diagram scripts")
    total = start
    for item in items:
        total = add(total, item)
    return total


def _small(*numbers: Any) -> None:
    for number in numbers:
        if _is_int(number) and number > MAX_FACTORIAL:
            too_large("a number")


def _factorial(n: int) -> int:
    _small(n)
    return math.factorial(n)


def _comb(n: int, k: int) -> int:
    _small(n)
    return math.comb(n, k)


def _perm(n: int, k: int | None = None) -> int:
    _small(n)
    return math.perm(n, k)


def _prod(items: Iterable[Any], *, start: Any = 1) -> Any:
    values = [start, *items]
    try:  # whole numbers: the product has at most as many bits as its factors together
        bits = sum(map(int.bit_length, values))
    except TypeError:  # floats and the like: multiply step by step, each step checked
        total = values[0]
        for value in values[1:]:
            total = mul(total, value)
        return total
    if bits > MAX_INT_BITS:
        too_large("a number")
    return math.prod(values)


def _lcm(*numbers: int) -> int:
    # The result has at most as many bits as all arguments together.
    try:  # map over a C method: no Python frame per argument for the tracer to slow down
        bits = sum(map(int.bit_length, numbers))
    except TypeError:
        bits = 0  # math.lcm names the wrong argument
    if bits > MAX_INT_BITS:
        too_large("a number")
    return math.lcm(*numbers)


# Functions whose result is no larger than their arguments (or a float).
_MATH_PLAIN = (
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "copysign", "cos",
    "cosh", "degrees", "dist", "e", "erf", "erfc", "exp", "expm1", "fabs", "floor", "fmod",
    "frexp", "fsum", "gamma", "gcd", "hypot", "inf", "isclose", "isfinite", "isinf", "isnan",
    "isqrt", "ldexp", "lgamma", "log", "log10", "log1p", "log2", "modf", "nan", "nextafter",
    "pi", "radians", "remainder", "sin", "sinh", "sqrt", "tan", "tanh", "tau", "trunc", "ulp",
    "cbrt", "exp2",
)
MATH_GUARDED: dict[str, Callable[..., Any]] = {
    "factorial": _factorial, "comb": _comb, "perm": _perm, "prod": _prod, "lcm": _lcm,
    "pow": math.pow,  # floats only: overflows with an error instead of growing
}


def math_module() -> ModuleType:
    """``math`` for scripts: an allow-list, with the growing functions size-checked."""
    module = ModuleType("math")
    for name in _MATH_PLAIN:
        if hasattr(math, name):
            setattr(module, name, getattr(math, name))
    for name, function in MATH_GUARDED.items():
        setattr(module, name, function)
    return module
