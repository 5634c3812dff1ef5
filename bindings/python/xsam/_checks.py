"""Argument checks done in Python before a value reaches ctypes, which would otherwise change it silently:
an int is wrapped to the C field's width (2**32 + 3 becomes 3, -1 a huge uint64_t), and a string with a
NUL byte ends there in C ("ca\\0t" becomes "ca")."""
import operator

from .errors import InvalidArgumentError

# The C types the binding's integer fields and arguments have, as (lowest, highest).
C_INT = (-(2 ** 31), 2 ** 31 - 1)
C_INT64 = (-(2 ** 63), 2 ** 63 - 1)
C_UINT64 = (0, 2 ** 64 - 1)
C_SIZE_T = (0, 2 ** 64 - 1)


def c_integer(value, what, c_range=C_INT):
    """`value` as a Python int that fits the C type, or InvalidArgumentError / TypeError naming `what`."""
    if isinstance(value, bool):
        value = int(value)
    try:
        n = operator.index(value)  # ints and numpy integers; not floats, not strings
    except TypeError:
        raise TypeError(f"{what}: expected an integer, got {type(value).__name__}") from None
    lo, hi = c_range
    if not lo <= n <= hi:
        raise InvalidArgumentError(f"{what}: {n} is outside [{lo}, {hi}]")
    return n


def no_nul(data, what):
    """Refuses bytes with a NUL: C would read them only up to it."""
    at = data.find(b"\0")
    if at >= 0:
        raise InvalidArgumentError(f"{what}: contains a NUL character (at byte {at})")
    return data
