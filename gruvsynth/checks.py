"""Checks of arguments given to the library: one home for them, one wording.

Each check returns the checked value in its canonical type or raises
:class:`gruvsynth.errors.ParameterError` with a one-line message that names the argument
and the value given.  (The command line has its own string-parsing types in
:mod:`gruvsynth.commands.argtypes`; what they return is checked here again by the library.)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from gruvsynth.errors import ParameterError

__all__ = ["check_int", "check_optional_int", "check_float", "check_bool", "check_choice"]


def _int_kind(minimum: int | None) -> str:
    if minimum is None:
        return "an integer"
    return "a positive integer" if minimum == 1 else f"an integer >= {minimum}"


def check_int(name: str, value, *, minimum: int | None = 1) -> int:
    """``value`` as an ``int``, if it is an integer (not a bool) of at least ``minimum``.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
    minimum : int or None
        The smallest value allowed; None: any integer (a seed).

    Returns
    -------
    int

    Raises
    ------
    ParameterError
        ``value`` is not an integer (``True`` and ``2.0`` are not), or is below ``minimum``.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum)):
        raise ParameterError(f"{name} must be {_int_kind(minimum)}, got {value!r}")
    return int(value)


def check_optional_int(name: str, value, *, minimum: int = 1) -> int | None:
    """:func:`check_int`, letting ``None`` (meaning "choose for me") through."""
    return None if value is None else check_int(name, value, minimum=minimum)


def check_float(name: str, value, *, minimum: float | None = None, positive: bool = False
                ) -> float:
    """``value`` as a finite ``float``, optionally ``> 0`` or ``>= minimum``.

    Parameters
    ----------
    name : str
    value : object
    minimum : float, optional
    positive : bool
        Require ``value > 0``.

    Returns
    -------
    float

    Raises
    ------
    ParameterError
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(float(value))
    if ok and positive and not value > 0:
        ok = False
    if ok and minimum is not None and value < minimum:
        ok = False
    if not ok:
        kind = ("a positive number" if positive else
                f"a number >= {minimum:g}" if minimum is not None else "a finite number")
        raise ParameterError(f"{name} must be {kind}, got {value!r}")
    return float(value)


def check_bool(name: str, value) -> bool:
    """``value`` itself, if it is ``True`` or ``False`` (not 0, 1 or a string).

    Raises
    ------
    ParameterError
        ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be true or false, got {value!r}")
    return value


def check_choice(name: str, value, choices: Iterable):
    """``value`` if it is one of ``choices``.

    Raises
    ------
    ParameterError
        Naming the choices.
    """
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(str, choices))}, "
                             f"got {value!r}")
    return value
