"""Argument types shared by the subcommands: each turns a string into a checked value or
raises ``argparse.ArgumentTypeError`` with a one-line message naming what was expected; and
the arguments several subcommands share (:func:`add_cell_module_argument`)."""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind, ok, expected: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def count(text: str) -> int:
    """An integer >= 0 (a count, an index or a seed)."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def at_least_one(text: str) -> float:
    """A finite number >= 1."""
    return _number(text, float, lambda v: math.isfinite(v) and v >= 1, "a number >= 1")


def add_cell_module_argument(parser) -> None:
    """Add ``--cell-module MODULE`` (repeatable; destination ``cell_module``, a list).

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
    """
    parser.add_argument(
        "--cell-module", action="append", default=[], metavar="MODULE",
        help="import MODULE first, e.g. the module that defines and registers your own cell "
        "(may be repeated); a run folder's files never make gruvsynth import anything")
