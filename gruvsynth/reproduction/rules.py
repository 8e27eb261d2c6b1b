"""The scaffold every claim rule is written on: a check's three-way outcome, the ways two
measurements are compared (beyond the seeds' spread, by a margin, against a threshold), the
learned gate, the tally of a claim's checks, and the claim row.

A *check* is one comparison of measured values with the relation the paper's claim wants:
it passes (``True``) when the data supports the claim, fails (``False``) when it contradicts
it, and is undecided (``None``) otherwise: no data, overlapping seeds, a difference inside
the margin.  :func:`outcome` is that rule, once; :func:`beyond_spread`, :func:`all_beyond`,
:func:`on_side` and :func:`bigger` are the comparisons built on it, and :func:`all_of`,
:func:`none_fails` and :func:`any_of` combine several results into one.  A claim's rule
(:mod:`gruvsynth.reproduction.claims`) adds its checks to a :class:`Judgement`, which gates
them on the baselines, fills in a check when there is no data, tallies the verdict
(:func:`tally`) and gives the claim row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gruvsynth.fileio import json_ready
from gruvsynth.reproduction.measures import (
    LEARN_MARGIN,
    SMOOTH_FRACTION,
    finals,
    finite_values,
    learned,
    replicates,
)

__all__ = [
    "REPRODUCED",
    "NOT_REPRODUCED",
    "INCONCLUSIVE",
    "VERDICTS",
    "BELOW",
    "ABOVE",
    "DID_NOT_LEARN",
    "TALLY_RULE",
    "SPREAD_RULE",
    "GATE_RULE",
    "ClaimText",
    "Judgement",
    "outcome",
    "beyond_spread",
    "all_beyond",
    "on_side",
    "bigger",
    "all_of",
    "none_fails",
    "any_of",
    "tally",
    "gate_check",
    "gated",
    "fmt",
    "range_text",
    "epochs_text",
    "mark",
]

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
#: The two orders of two sets of values (:func:`gruvsynth.reproduction.measures.separated`).
BELOW, ABOVE = "below", "above"
#: Reason given when a loss-based claim is inconclusive because no model learned.
DID_NOT_LEARN = "the models did not learn"

TALLY_RULE = ("Verdict: reproduced when every check passes; not reproduced when at least half of "
              "the checks fail; inconclusive otherwise (a check without data, or undecided, "
              "counts as neither).")
SPREAD_RULE = ("Replicates: each configuration is trained with several seeds; a comparison is "
               "decided only when the two configurations' ranges over their seeds (minimum to "
               "maximum of the final values) do not overlap, and is undecided when they do "
               "(with one seed a range is the value itself).")
GATE_RULE = (f"Gate: a model has learned when its final training loss (mean of the last "
             f"{SMOOTH_FRACTION:.0%} of epochs) is at least {LEARN_MARGIN:.0%} below the best "
             "trivial predictor's training loss on its corpus (the training mean, persistence, "
             "or per-feature linear persistence); a check whose models did not learn is "
             "undecided, and when no check's models learned the verdict is inconclusive: "
             f"{DID_NOT_LEARN}.")


# --------------------------------------------------------------------------------------------
# A check's outcome, and the comparisons
# --------------------------------------------------------------------------------------------


def outcome(supports: bool, contradicts: bool) -> bool | None:
    """The three-way result of a check.

    Parameters
    ----------
    supports : bool
        The data supports the claim (checked first).
    contradicts : bool
        The data contradicts it.

    Returns
    -------
    bool or None
        ``True`` (passed), ``False`` (failed) or ``None`` (undecided).
    """
    if supports:
        return True
    if contradicts:
        return False
    return None


def _opposite(order: str) -> str:
    return ABOVE if order == BELOW else BELOW


def beyond_spread(order: str | None, want: str, *, passes: bool = True,
                  fails: bool = True) -> bool | None:
    """Two configurations compared beyond their seeds' spread.

    Parameters
    ----------
    order : {"below", "above"} or None
        How the first configuration's values lie against the second's
        (:func:`~gruvsynth.reproduction.measures.separated`; None: the ranges overlap).
    want : {"below", "above"}
        The order the claim wants.
    passes, fails : bool
        Further conditions (a margin, a size of the effect) that passing and failing need.

    Returns
    -------
    bool or None
    """
    return outcome(order == want and passes, order == _opposite(want) and fails)


def all_beyond(orders: Sequence[str | None], want: str) -> bool | None:
    """One configuration against several others: passes when it lies on the wanted side of
    every one beyond the spread, fails when it lies on the other side of any.

    Parameters
    ----------
    orders : sequence of {"below", "above"} or None
    want : {"below", "above"}

    Returns
    -------
    bool or None
    """
    return outcome(all(o == want for o in orders), any(o == _opposite(want) for o in orders))


def on_side(value: float | None, want: str, *, passes_at: float, fails_at: float,
            strict: bool = False) -> bool | None:
    """A measured value against thresholds.

    Parameters
    ----------
    value : float or None
        None: undecided.
    want : {"below", "above"}
        The side the claim wants the value on.
    passes_at, fails_at : float
        The check passes when the value is at ``passes_at`` or beyond it on the wanted side,
        fails when it is at ``fails_at`` or beyond it on the other side.
    strict : bool
        Exactly at a threshold is not enough (then neither).

    Returns
    -------
    bool or None
    """
    if value is None:
        return None

    def beyond(limit: float, side: str) -> bool:
        if side == ABOVE:
            return value > limit if strict else value >= limit
        return value < limit if strict else value <= limit

    return outcome(beyond(passes_at, want), beyond(fails_at, _opposite(want)))


def bigger(a: float | None, b: float | None) -> bool | None:
    """``a > b`` as a check: passes when ``a`` is the bigger, fails otherwise (ties too),
    undecided when either is unknown.

    Parameters
    ----------
    a, b : float or None

    Returns
    -------
    bool or None
    """
    if a is None or b is None:
        return None
    return outcome(a > b, True)


def all_of(results: Sequence[bool | None]) -> bool | None:
    """Several results as one: passes when all pass, undecided when any is undecided (or there
    is none), fails otherwise.

    Parameters
    ----------
    results : sequence of bool or None

    Returns
    -------
    bool or None
    """
    if not results or any(r is None for r in results):
        return None
    return outcome(all(results), True)


def none_fails(results: Sequence[bool | None]) -> bool | None:
    """Several results as one where a failure decides: fails when any fails, passes when all
    pass, undecided otherwise.

    Parameters
    ----------
    results : sequence of bool or None

    Returns
    -------
    bool or None
    """
    return outcome(all(r is True for r in results) and bool(results),
                   any(r is False for r in results))


def any_of(results: Sequence[bool | None]) -> bool | None:
    """Several results as one where a pass decides: passes when any passes, fails when all
    fail, undecided otherwise (or when there is none).

    Parameters
    ----------
    results : sequence of bool or None

    Returns
    -------
    bool or None
    """
    return outcome(any(r is True for r in results),
                   bool(results) and all(r is False for r in results))


def tally(checks: Sequence[Mapping]) -> str:
    """The verdict from a claim's checks (see :data:`TALLY_RULE`).

    Parameters
    ----------
    checks : sequence of dict
        Each with ``passed``: ``True``, ``False`` or ``None`` (no data / undecided).

    Returns
    -------
    str
        :data:`REPRODUCED`, :data:`NOT_REPRODUCED` or :data:`INCONCLUSIVE`.
    """
    results = [c.get("passed") for c in checks]
    if not results:
        return INCONCLUSIVE
    if all(r is True for r in results):
        return REPRODUCED
    if 2 * sum(r is False for r in results) >= len(results):
        return NOT_REPRODUCED
    return INCONCLUSIVE


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------


def fmt(x, spec: str = ".4g") -> str:
    """A measured value as text: ``n/a`` for None and non-finite numbers, yes/no for booleans.

    Parameters
    ----------
    x : object
    spec : str
        The format of floats.

    Returns
    -------
    str
    """
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return format(float(x), spec) if math.isfinite(x) else "n/a"
    return str(x)


def range_text(values: Sequence[float], spec: str = ".4g") -> str:
    """Replicates' values as text: the value for one, ``mean [min–max]`` for several.

    Parameters
    ----------
    values : sequence of float
    spec : str

    Returns
    -------
    str
    """
    values = finite_values(list(values))
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt(values[0], spec)
    return f"{fmt(float(np.mean(values)), spec)} [{fmt(min(values), spec)}–{fmt(max(values), spec)}]"


def epochs_text(epochs: Sequence) -> str:
    """Epochs (or None) as ``a/b/c``; ``n/a`` for none."""
    return "/".join(fmt(e) for e in epochs) or "n/a"


def mark(passed) -> str:
    """✔ passed, ✘ failed, ? undecided."""
    return "✔" if passed is True else "✘" if passed is False else "?"


# --------------------------------------------------------------------------------------------
# The learned gate
# --------------------------------------------------------------------------------------------


def gate_check(corpus: str, runs: Mapping[str, Sequence[Mapping]],
               baselines: Mapping | None) -> dict:
    """The gate check of one corpus's models.

    Parameters
    ----------
    corpus : str
    runs : mapping
        Label → history or replicates' histories; a label passes when every replicate
        learned (:func:`~gruvsynth.reproduction.measures.learned`).
    baselines : mapping or None
        ``{corpus: {"train": {...}, "dev": {...}}}``.

    Returns
    -------
    dict
        ``check`` (text) and ``passed``.
    """
    from gruvsynth.evaluation import best_baseline  # scipy: only when asked

    train = ((baselines or {}).get(corpus) or {}).get("train")
    name, best = best_baseline(train or {})
    parts, results = [], []
    for label, value in runs.items():
        reps = replicates(value)
        outcomes = [learned(h, train) for h in reps]
        oks = [ok for ok, _ in outcomes]
        skills = [v for _, v in outcomes if v is not None]
        results.append(all_of(oks))
        parts.append(f"{label} {range_text(finals(reps, 'loss'))} (skill "
                     f"{fmt(min(skills) if skills else None, '.2f')}"
                     f"{' lowest of ' + str(len(reps)) + ' seeds' if len(reps) > 1 else ''})")
    return {"check": f"{corpus}: models learned (training loss ≥{LEARN_MARGIN:.0%} below the "
                     f"best trivial predictor, {name or 'n/a'} {fmt(best)}): "
                     + ", ".join(parts), "passed": all_of(results)}


def gated(check: dict, gate: dict | None) -> dict:
    """A check, undecided when its gate failed.

    Parameters
    ----------
    check : dict
        ``check`` and ``passed``.
    gate : dict or None
        From :func:`gate_check`.

    Returns
    -------
    dict
    """
    if gate is not None and gate["passed"] is False:
        return {**check, "passed": None, "check": f"{check['check']} — not judged: "
                                                  f"{DID_NOT_LEARN}"}
    return check


# --------------------------------------------------------------------------------------------
# A claim's judgement
# --------------------------------------------------------------------------------------------


class ClaimText:
    """What a claim says: its words, the paper's, the figures that show it, and the check
    shown when there is no data to judge it on.

    Parameters
    ----------
    claim, paper : str
    figures : sequence of str
        Paths inside the results folder.
    no_data : str
        The text of the one undecided check of a claim without data.
    """

    def __init__(self, claim: str, paper: str, figures: Sequence[str], no_data: str):
        self.claim, self.paper, self.figures, self.no_data = claim, paper, tuple(figures), no_data


class Judgement:
    """A claim being judged: its checks, gates and measured values, then its row.

    Parameters
    ----------
    cid : str
        The claim's id (``"C1"`` ...).
    text : ClaimText
    rule : str
        The claim's rule, in words.
    gates : bool
        Whether its checks are gated on the baselines (:data:`GATE_RULE`).
    """

    def __init__(self, cid: str, text: ClaimText, rule: str, *, gates: bool = False):
        self.cid, self.text, self.rule = cid, text, rule
        self.checks: list[dict] = []
        self.measured: dict = {}
        self.gates: list[dict] | None = [] if gates else None

    def gate(self, gate: dict) -> dict:
        """Record a gate (from :func:`gate_check`); returns it."""
        self.gates.append(gate)
        return gate

    def check(self, text: str, passed: bool | None, gate: dict | None = None) -> None:
        """Add a check; undecided when its gate failed (:func:`gated`)."""
        self.checks.append(gated({"check": text, "passed": passed}, gate))

    def row(self) -> dict:
        """The claim row: ``id``, ``claim``, ``paper``, ``rule``, ``verdict``, ``checks``,
        ``measured``, ``figures``; when gated also ``gates`` and either ``reason`` (no model
        learned: inconclusive) or ``gate_note``."""
        checks = self.checks or [{"check": self.text.no_data, "passed": None}]
        row = {"id": self.cid, "claim": self.text.claim, "paper": self.text.paper,
               "rule": f"{self.rule} {SPREAD_RULE} {TALLY_RULE}", "verdict": tally(checks),
               "checks": checks, "measured": json_ready(self.measured),
               "figures": list(self.text.figures)}
        gates = self.gates
        if gates is not None:
            row["rule"] = f"{self.rule} {SPREAD_RULE} {GATE_RULE} {TALLY_RULE}"
            row["gates"] = gates
            if gates and all(g["passed"] is False for g in gates):
                row["verdict"] = INCONCLUSIVE
                row["reason"] = DID_NOT_LEARN
            elif not gates or any(g["passed"] is None for g in gates):
                row["gate_note"] = "not gated for every corpus: no baselines or no training loss"
        return row
