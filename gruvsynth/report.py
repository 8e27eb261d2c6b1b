"""The reproduction's results: the claims table with computed verdicts, and the HTML page.

A results folder (``results/<profile>/``, written by the scripts in ``experiments/``) holds::

    figures/fig1_loss_curves.{png,svg,csv,json}      Figure 1: GRU vs LSTM loss curves
    figures/fig2_hidden_size.{png,svg,csv,json}      Figure 2: dev loss against hidden size
    figures/fig3_spectrograms_<corpus>.{png,svg,csv} Figure 3: mean dev spectrograms and spectra
    figures/fig3_spectrograms.json                   Figure 3's summary (energy outside the band)
    figures/generated_audio.{png,svg,csv}            audio metrics of the generated samples
    figures/generation_length.{png,svg,csv,json}     loops and metrics against generation length
    figures/depth.{png,svg,csv,json}                 1, 2, 3 recurrent layers
    samples/samples.json, samples/*.wav              seeds and generated samples, with metrics
    reproduction.json                                profile, settings, timings, hardware
    runs/ ...                                        the training runs (gruvsynth.training)

From the JSON files :func:`collect` gathers what the paper's seven claims need,
:func:`compute_claims` judges each claim for each family of cells that was run (the authors'
Keras 0.1 cells and today's Keras 3 cells, separately; the loss-based claims only on models
that beat the trivial predictors, :data:`GATE_RULE`) and turns each into a row with its measured figures and a verdict
(``reproduced``, ``not reproduced`` or ``inconclusive``) computed by a written rule (the rule's
text is built from the same constants the code uses), and :func:`build_report` writes
``claims.md``, ``claims.json`` and the self-contained page ``index.html`` (relative links only:
figures, audio players, data files; no network, no script).  :func:`check_page` opens the page
in headless Chromium and checks that every image and every audio element loaded.

The JSON formats (all keys required unless marked optional):

``fig1_loss_curves.json``, ``depth.json``, ``fig2_hidden_size.json``
    ``{"runs": [{"corpus", "cell", "hidden", "layers", "epochs", "run",
    "history": [{"epoch", "loss", "dev_loss"}, ...]}, ...], ...}``
``fig3_spectrograms.json``
    ``{"band_hz": [lo, hi], "corpora": {corpus: {"truth": {"outside_band"},
    "cells": {cell: {"outside_band", "dev_loss", ...}}, "figure"}}}``
``baselines.json``
    ``{"corpora": {corpus: {"train": {"mean", "persistence", "linear"}, "dev": {...}}}}``
    (:func:`gruvsynth.evaluation.baseline_losses` of each corpus)
``samples/samples.json``
    ``{"dev_audio": {corpus: {"spectral_flatness", "outside_band", ...}},
    "calibration": {corpus: {"anchors": {"music", "corpus_noise", "white_noise", "chord",
    "phase_randomised": {"score", "min", "max", "verdict", ...}, "near_silence": {"rms_dbfs",
    "verdict"}}, "threshold", "margins": {anchor: factor}, "separated", ...}},
    "samples": [{"corpus", "cell", "hidden", "wav", "seed_wav", "metrics": {...,
    "noise_distance", "noise_like", "noise_verdict"}, "seed"}],
    "means": {corpus: {cell: {"spectral_flatness", "shape_distance_db", "noise_like", ...}}}}``
    (``calibration``: :func:`gruvsynth.noise.calibrate` of each corpus)
``generation_length.json``
    ``{"rows": [{"corpus", "cell", "seed_blocks", "sample", "times", "looped", ...}], ...}``
``reproduction.json``
    ``{"host": {...}, "stages": [{"name", "status", "seconds", ...}], ...}``

Any of them may carry ``"dry_run": {"max_epochs", "songs"}`` (optional; null or absent for a
full run): the overrides of a dry run (``experiments/reproduce.py --max-epochs N --songs K``).
When any file of a folder has them, every claim is *inconclusive* (:data:`DRY_RUN_BANNER`) and
the page and ``claims.md`` say so in large letters at the top.

:func:`collect` checks each file against these shapes (:data:`SCHEMAS`) and refuses one that
parses but has another shape, naming the file and the entry.  A folder with none of these
files is refused too (there is nothing to judge).  The page links only files inside the
results folder: a link read from ``samples.json`` must be a relative path without a URL scheme
that stays inside the folder (no ``javascript:``, ``data:``, ``/etc/...``, ``../..``);
anything else is refused with a message (:func:`safe_link`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import html
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from gruvsynth.defaults import CELL_FAMILIES, CELL_LABELS, FAMILY_LABELS
from gruvsynth.errors import GruvError
from gruvsynth.fileio import writing

__all__ = [
    "REPRODUCED",
    "NOT_REPRODUCED",
    "INCONCLUSIVE",
    "VERDICTS",
    "DRY_RUN",
    "DRY_RUN_BANNER",
    "dry_run_in",
    "describe_dry_run",
    "CLAIM_IDS",
    "BrowserError",
    "write_json",
    "write_text",
    "write_csv",
    "read_json",
    "SCHEMAS",
    "check_shape",
    "safe_link",
    "final_value",
    "overfit_epoch",
    "tally",
    "verdict_c1",
    "verdict_c2",
    "verdict_c3",
    "verdict_c4",
    "verdict_c5",
    "verdict_c6",
    "verdict_c7",
    "learned",
    "families_in",
    "family_data",
    "findings",
    "baselines_markdown",
    "LEARN_MARGIN",
    "GATE_RULE",
    "BASELINES_JSON",
    "white_noise_flatness",
    "log_odds",
    "separated",
    "replicates",
    "SPREAD_RULE",
    "collect",
    "compute_claims",
    "claims_markdown",
    "render_page",
    "build_report",
    "find_browser",
    "check_page",
]

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
CLAIM_IDS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7")

# Layout of a results folder.
FIGURES_DIR = "figures"
SAMPLES_DIR = "samples"
RUNS_DIR = "runs"
FIG1 = "fig1_loss_curves"
FIG2 = "fig2_hidden_size"
FIG3 = "fig3_spectrograms"
GENERATED_AUDIO = "generated_audio"
GENERATION_LENGTH = "generation_length"
DEPTH = "depth"
SAMPLES_JSON = "samples.json"
REPRODUCTION_JSON = "reproduction.json"
CLAIMS_MD = "claims.md"
CLAIMS_JSON = "claims.json"
PAGE = "index.html"
SCREENSHOT = "screenshot.png"

#: The stand-ins: the varied, recorded corpus (for David Bowie) and the electronic one (Madeon).
VARIED_CORPUS = "wesnoth"
ELECTRONIC_CORPUS = "warzone2100"
#: The two cells the paper compares.
LSTM, GRU = "lstm", "gru"

# Constants of the verdict rules (the rule texts below are built from them).
#: Final losses are the mean over the last this share of the evaluated epochs (at least one).
SMOOTH_FRACTION = 0.1
#: C1: "slightly" lower: LSTM's loss at most this share below GRU's.
SLIGHT_MAX = 0.5
#: C2: a run overfits when its final dev loss is above its lowest by more than this share.
OVERFIT_RISE = 0.02
#: C5: the GRU's and the LSTM's out-of-band odds (energy outside the band over energy inside)
#: are compared as a log ratio; with a single seed, a log ratio within this (a 20 % change of
#: the odds) is a tie.  With replicates the seeds' spread decides.
BAND_MARGIN = round(math.log(1.2), 3)
#: C6: the length up to which the paper's generations stayed loop-free (× the seed).
LOOP_FREE_TIMES = 3.0
#: C6: share of looped samples that counts as "rare" / "common".
LOOP_RARE = 0.25
LOOP_COMMON = 0.5
#: C6: the cell whose generations the paper describes (its GRU produced noise).
LOOP_CELLS = (LSTM,)
#: C7: relative difference in final training loss that counts as harder / easier to train.
DEPTH_MARGIN = 0.02
#: Loss-based claims (C1, C2, C3, C7) are judged only on models that learned: a final training
#: loss at least this share below the best trivial predictor's training loss on the corpus.
LEARN_MARGIN = 0.10
#: The results file with every corpus's trivial-predictor losses (experiments write it).
BASELINES_JSON = "baselines.json"
#: Reason given when a loss-based claim is inconclusive because no model learned.
DID_NOT_LEARN = "the models did not learn"
#: Key of a dry run's overrides in the results files, and what the results then say.
DRY_RUN = "dry_run"
DRY_RUN_BANNER = "dry run: not a reproduction"
#: Cell families, in the order their claims are listed (see :data:`gruvsynth.defaults.CELL_FAMILIES`).
FAMILY_ORDER = ("authors", "keras3", "paper")
#: The families judged when the data names none.
DEFAULT_FAMILIES = ("authors", "keras3")
#: Each built-in cell's part in the paper's comparison.
CELL_ROLES = {"lstm": LSTM, "gru": GRU, "keras01_lstm": LSTM, "keras01_gru": GRU,
              "peephole_lstm": LSTM, "paper_gru": GRU}

TALLY_RULE = ("Verdict: reproduced when every check passes; not reproduced when at least half of "
              "the checks fail; inconclusive otherwise (a check without data, or undecided, "
              "counts as neither).")


class BrowserError(GruvError):
    """No headless Chromium to check the page with, or it failed to run."""


# --------------------------------------------------------------------------------------------
# Small file helpers (atomic writes)
# --------------------------------------------------------------------------------------------


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Parameters
    ----------
    path : str or os.PathLike
    text : str

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    with writing(path):  # an unwritable folder is an OutputError naming it
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique name opened with "x" (not mkstemp, whose files are private): the result
        # gets the usual permissions (umask).
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "x", encoding="utf-8", newline="") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return path


def _clean(value):
    """JSON-ready: numpy types to Python, NaN/inf to None, paths to str."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_json(path, data) -> Path:
    """Write ``data`` as indented JSON, atomically; NaN and infinities become ``null``.

    Parameters
    ----------
    path : str or os.PathLike
    data : dict or list

    Returns
    -------
    pathlib.Path
    """
    return write_text(path, json.dumps(_clean(data), indent=2, allow_nan=False) + "\n")


def write_csv(path, rows: Iterable[Mapping], fields: Sequence[str]) -> Path:
    """Write rows (dicts) as CSV with a header, atomically; ``None``/NaN become empty cells.

    Parameters
    ----------
    path : str or os.PathLike
    rows : iterable of mapping
    fields : sequence of str
        Column names, in order (keys of each row; missing keys give empty cells).

    Returns
    -------
    pathlib.Path
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        out = []
        for key in fields:
            v = _clean(row.get(key))
            out.append("" if v is None else (repr(v) if isinstance(v, float) else v))
        writer.writerow(out)
    return write_text(path, buf.getvalue())


def read_json(path):
    """Read a JSON file; ``None`` if it does not exist.

    Raises
    ------
    GruvError
        The file exists but is not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GruvError(f"{path}: unreadable results file ({exc})") from None


# --------------------------------------------------------------------------------------------
# The shapes of the results files
# --------------------------------------------------------------------------------------------

#: Leaves of a shape: a number (int or float, not bool) or null; a string; an integer.
NUMBER, STRING, INTEGER, ANY = "number", "string", "integer", "any"


class _MapOf:
    """A shape: an object with any keys, each value of ``shape``."""

    def __init__(self, shape):
        self.shape = shape


_HISTORY = [{"epoch": NUMBER, "loss": NUMBER, "dev_loss": NUMBER}]
_ANCHOR = {"score": NUMBER, "min": NUMBER, "max": NUMBER, "verdict": STRING}
#: A corpus's noise calibration (:func:`gruvsynth.noise.calibrate`).
_CALIBRATION = {"anchors!": {"music!": _ANCHOR, "corpus_noise!": _ANCHOR,
                             "white_noise!": _ANCHOR, "chord!": _ANCHOR,
                             "phase_randomised": _ANCHOR,
                             "near_silence": {"rms_dbfs": NUMBER, "verdict": STRING}},
                "threshold!": NUMBER, "margins!": _MapOf(NUMBER), "separated!": ANY,
                "quiet_dbfs": NUMBER}
#: A generated sample's metrics: any keys; these, when present, of these kinds.
_SAMPLE_METRICS_SHAPE = {"noise_distance": NUMBER, "noise_verdict": STRING,
                         "noise_like": ANY, "rms_dbfs": NUMBER, "shape_distance_db": NUMBER}
_RUN = {"corpus!": STRING, "cell!": STRING, "hidden": INTEGER, "layers": INTEGER,
        "epochs": INTEGER, "seed": INTEGER, "history": _HISTORY}
_METRICS = _MapOf(ANY)
_DRY_RUN = {"max_epochs": INTEGER, "songs": INTEGER}

#: The shape of each results file, by name.  An object's keys are optional unless they end
#: with ``!``; ``[shape]`` is a list of that shape; leaves are :data:`NUMBER` (or null),
#: :data:`STRING`, :data:`INTEGER` and :data:`ANY`.
SCHEMAS = {
    FIG1: {"runs": [_RUN], DRY_RUN: _DRY_RUN},
    FIG2: {"runs": [{**_RUN, "hidden!": INTEGER}], DRY_RUN: _DRY_RUN},
    DEPTH: {"runs": [{**_RUN, "layers!": INTEGER}], DRY_RUN: _DRY_RUN},
    FIG3: {"band_hz": [NUMBER], "corpora": _MapOf({
        "truth": {"outside_band": NUMBER},
        "cells": _MapOf({"outside_band": NUMBER, "outside_band_seeds": [NUMBER]}),
        "figure": ANY}), DRY_RUN: _DRY_RUN},
    SAMPLES_JSON: {"dev_audio": _MapOf(_METRICS), "means": _MapOf(_MapOf(_METRICS)),
                   "means_dev": _MapOf(_MapOf(_METRICS)), "settings": _MapOf(ANY),
                   "calibration": _MapOf(_CALIBRATION),
                   "samples": [{"corpus!": STRING, "cell!": STRING, "hidden": ANY,
                                "protocol": STRING, "spectrogram": STRING, "copy": ANY,
                                "wav": STRING, "seed_wav": STRING,
                                "metrics": _SAMPLE_METRICS_SHAPE, "seed": _MapOf(ANY)}],
                   DRY_RUN: _DRY_RUN},
    GENERATION_LENGTH: {"rows": [{"corpus!": STRING, "cell!": STRING, "times": NUMBER,
                                  "looped": ANY}], DRY_RUN: _DRY_RUN},
    REPRODUCTION_JSON: {"host": _MapOf(ANY), "stages": [_MapOf(ANY)], DRY_RUN: _DRY_RUN,
                        "plan": _MapOf(ANY)},
    BASELINES_JSON: {"corpora": _MapOf({"train": {"mean": NUMBER, "persistence": NUMBER,
                                                  "linear": NUMBER},
                                        "dev": {"mean": NUMBER, "persistence": NUMBER,
                                                "linear": NUMBER}}),
                     "corpus_hashes": _MapOf(STRING)},
}


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number" if math.isfinite(value) else f"{value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_shape(value, shape, *, where: str = "") -> str | None:
    """Where ``value`` departs from ``shape`` (see :data:`SCHEMAS`), in words; None if it fits.

    Parameters
    ----------
    value
        Parsed JSON.
    shape
        A shape from :data:`SCHEMAS` (or part of one).
    where : str
        The position of ``value`` in its file, for the message.

    Returns
    -------
    str or None
    """
    at = where or "the top level"
    if shape == ANY:
        return None
    if shape == NUMBER:
        ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
        return None if ok else f"{at} is {_kind(value)}, expected a number or null"
    if shape == INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{at} is {_kind(value)}, expected an integer"
    if shape == STRING:
        return None if isinstance(value, str) else f"{at} is {_kind(value)}, expected a string"
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{at} is {_kind(value)}, expected a list"
        for i, item in enumerate(value):
            problem = check_shape(item, shape[0], where=f"{where}[{i}]")
            if problem:
                return problem
        return None
    if not isinstance(value, dict):
        return f"{at} is {_kind(value)}, expected an object"
    if isinstance(shape, _MapOf):
        for key, item in value.items():
            problem = check_shape(item, shape.shape, where=f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    for spec_key, sub in shape.items():
        key = spec_key.rstrip("!")
        name = f"{where}.{key}" if where else key
        if key not in value or (value[key] is None and not spec_key.endswith("!")):
            if spec_key.endswith("!"):
                return f"{name} is missing"
            continue
        problem = check_shape(value[key], sub, where=name)
        if problem:
            return problem
    return None


def _read_results(path: Path, name: str):
    """A results file, parsed and checked against ``SCHEMAS[name]``; None if it is missing."""
    data = read_json(path)
    if data is None:
        return None
    problem = check_shape(data, SCHEMAS[name])
    if problem:
        raise GruvError(f"{path}: not a results file of the expected shape ({problem})")
    return data


def safe_link(out: Path, name, *, source: str) -> str:
    """A link target read from a results file, checked to stay inside the results folder.

    Parameters
    ----------
    out : pathlib.Path
        The results folder.
    name : str
        The link, a path relative to ``out`` (e.g. ``"samples/wesnoth-lstm.wav"``).
    source : str
        Where it was read (the file and entry), for the message.

    Returns
    -------
    str
        The link, percent-encoded for an ``href``/``src`` attribute.

    Raises
    ------
    GruvError
        ``name`` is not a string, has a URL scheme (``javascript:``, ``data:``,
        ``http:``...), is absolute, has ``..`` or backslashes, control characters, or (following
        symbolic links) leads outside ``out``.
    """
    def refuse(why: str) -> GruvError:
        return GruvError(f"{source}: refusing to link {name!r}: {why}; a link must be a "
                         "relative path inside the results folder")

    if not isinstance(name, str) or not name:
        raise refuse("not a path")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", name) or "//" in name:
        raise refuse("it has a URL scheme or host")
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise refuse("it is an absolute path")
    if any(not ch.isprintable() for ch in name):
        raise refuse("it has control characters")
    parts = name.split("/")
    if ".." in parts:
        raise refuse("it has '..'")
    root = out.resolve()
    target = (out / name).resolve()
    if target != root and root not in target.parents:
        raise refuse("it leads outside the results folder")
    return urllib.parse.quote(name, safe="/")


# --------------------------------------------------------------------------------------------
# Measures used by the rules
# --------------------------------------------------------------------------------------------


def _finite(values) -> np.ndarray:
    a = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return a[np.isfinite(a)]


def final_value(history: Sequence[Mapping], key: str = "loss", *,
                fraction: float = SMOOTH_FRACTION) -> float | None:
    """A run's final loss, smoothed: the mean over the last ``fraction`` of the evaluated epochs.

    Parameters
    ----------
    history : sequence of dict
        Per epoch: ``epoch``, ``loss``, ``dev_loss`` (``None``/NaN where not evaluated).
    key : {"loss", "dev_loss"}
    fraction : float
        Share of the evaluated epochs averaged (at least one epoch).

    Returns
    -------
    float or None
        ``None`` without any finite value.
    """
    v = _finite(r.get(key) for r in history)
    if v.size == 0:
        return None
    k = max(1, math.ceil(fraction * v.size))
    return float(v[-k:].mean())


def overfit_epoch(history: Sequence[Mapping], *, rise: float = OVERFIT_RISE,
                  fraction: float = SMOOTH_FRACTION) -> int | None:
    """The epoch after which a run overfits: that of its lowest dev loss, if the dev loss rose.

    Parameters
    ----------
    history : sequence of dict
    rise : float
        The smoothed final dev loss must exceed the lowest by more than this share.
    fraction : float
        As for :func:`final_value`.

    Returns
    -------
    int or None
        The epoch of the lowest dev loss, or ``None`` when the dev loss did not rise (no
        overfitting within the run) or there is no dev loss.
    """
    rows = [(r["epoch"], r.get("dev_loss")) for r in history]
    rows = [(e, float(d)) for e, d in rows if d is not None and math.isfinite(float(d))]
    if not rows:
        return None
    best_epoch, best = min(rows, key=lambda t: t[1])
    final = final_value(history, "dev_loss", fraction=fraction)
    if final is None or not final > best * (1.0 + rise):
        return None
    return int(best_epoch)


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


GATE_RULE = (f"Gate: a model has learned when its final training loss (mean of the last "
             f"{SMOOTH_FRACTION:.0%} of epochs) is at least {LEARN_MARGIN:.0%} below the best "
             "trivial predictor's training loss on its corpus (the training mean, persistence, "
             "or per-feature linear persistence); a check whose models did not learn is "
             "undecided, and when no check's models learned the verdict is inconclusive: "
             f"{DID_NOT_LEARN}.")


def learned(history: Sequence[Mapping], baseline: Mapping | None, *,
            margin: float = LEARN_MARGIN) -> tuple[bool | None, float | None]:
    """Whether a run learned: its final training loss beats the best baseline by ``margin``.

    Parameters
    ----------
    history : sequence of dict
        The run's history (``loss`` per epoch).
    baseline : mapping or None
        The corpus's training-split baselines ``{"mean", "persistence", "linear"}``.
    margin : float
        Required skill (``1 - loss / best baseline``).

    Returns
    -------
    learned : bool or None
        None when the loss or the baseline is unknown.
    skill : float or None
    """
    from gruvsynth.evaluation import best_baseline, skill

    _, best = best_baseline(baseline or {})
    value = skill(final_value(history, "loss"), best)
    return (None if value is None else value >= margin), value


SPREAD_RULE = ("Replicates: each configuration is trained with several seeds; a comparison is "
               "decided only when the two configurations' ranges over their seeds (minimum to "
               "maximum of the final values) do not overlap, and is undecided when they do "
               "(with one seed a range is the value itself).")


def replicates(value) -> list:
    """The replicates' histories of a configuration: a single history (a list of epoch dicts)
    becomes a list of one; a list of histories is kept."""
    value = list(value or [])
    if not value or isinstance(value[0], Mapping):
        return [value] if value else []
    return [list(h or []) for h in value]


def _values(value) -> list[float]:
    """Finite numbers from a number or a sequence of numbers (replicates' final values)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [float(v) for v in items if v is not None and math.isfinite(float(v))]


def _finals(histories, key: str) -> list[float]:
    return _values([final_value(h, key) for h in replicates(histories)])


def separated(a: Sequence[float], b: Sequence[float]) -> str | None:
    """How two sets of replicate values compare beyond their spread.

    Parameters
    ----------
    a, b : sequence of float
        The final values of each configuration's seeds.

    Returns
    -------
    {"below", "above"} or None
        ``"below"`` when every value of ``a`` is below every value of ``b``, ``"above"``
        when every one is above, None when the ranges overlap or a side has no value.
    """
    a, b = _values(list(a)), _values(list(b))
    if not a or not b:
        return None
    if max(a) < min(b):
        return "below"
    if min(a) > max(b):
        return "above"
    return None


def _range_text(values: Sequence[float], spec: str = ".4g") -> str:
    values = _values(list(values))
    if not values:
        return "n/a"
    if len(values) == 1:
        return _fmt(values[0], spec)
    return f"{_fmt(float(np.mean(values)), spec)} [{_fmt(min(values), spec)}–{_fmt(max(values), spec)}]"


def _epochs_text(epochs: Sequence) -> str:
    return "/".join(_fmt(e) for e in epochs) or "n/a"


def _mean(values) -> float | None:
    values = _values(list(values))
    return float(np.mean(values)) if values else None


def _gate_check(corpus: str, runs: Mapping[str, Sequence[Mapping]],
                baselines: Mapping | None) -> dict:
    """The gate check of one corpus's models (``runs``: label → history or replicates'
    histories; a label passes when every replicate learned)."""
    from gruvsynth.evaluation import best_baseline

    train = ((baselines or {}).get(corpus) or {}).get("train")
    name, best = best_baseline(train or {})
    parts, results = [], []
    for label, value in runs.items():
        reps = replicates(value)
        outcomes = [learned(h, train) for h in reps]
        oks = [ok for ok, _ in outcomes]
        ok = None if not oks or any(o is None for o in oks) else all(oks)
        skills = [v for _, v in outcomes if v is not None]
        results.append(ok)
        parts.append(f"{label} {_range_text(_finals(reps, 'loss'))} (skill "
                     f"{_fmt(min(skills) if skills else None, '.2f')}"
                     f"{' lowest of ' + str(len(reps)) + ' seeds' if len(reps) > 1 else ''})")
    passed = None if not results or any(r is None for r in results) else all(results)
    return {"check": f"{corpus}: models learned (training loss ≥{LEARN_MARGIN:.0%} below the "
                     f"best trivial predictor, {name or 'n/a'} {_fmt(best)}): "
                     + ", ".join(parts), "passed": passed}


def _gated(check: dict, gate: dict | None) -> dict:
    """A check, undecided when its gate failed."""
    if gate is not None and gate["passed"] is False:
        return {**check, "passed": None, "check": f"{check['check']} — not judged: "
                                                  f"{DID_NOT_LEARN}"}
    return check


def _claim(cid: str, checks: list[dict], rule: str, measured: dict,
           gates: list[dict] | None = None) -> dict:
    row = {"id": cid, "claim": CLAIMS[cid]["claim"], "paper": CLAIMS[cid]["paper"],
           "rule": f"{rule} {SPREAD_RULE} {TALLY_RULE}", "verdict": tally(checks), "checks": checks,
           "measured": _clean(measured), "figures": list(CLAIMS[cid]["figures"])}
    if gates is not None:
        row["rule"] = f"{rule} {SPREAD_RULE} {GATE_RULE} {TALLY_RULE}"
        row["gates"] = gates
        if gates and all(g["passed"] is False for g in gates):
            row["verdict"] = INCONCLUSIVE
            row["reason"] = DID_NOT_LEARN
        elif not gates or any(g["passed"] is None for g in gates):
            row["gate_note"] = "not gated for every corpus: no baselines or no training loss"
    return row


def _fmt(x, spec: str = ".4g") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return format(float(x), spec) if math.isfinite(x) else "n/a"
    return str(x)


CLAIMS = {
    "C1": {
        "claim": "The LSTM has slightly lower training and dev loss than the GRU (per corpus).",
        "paper": "The LSTM network consistently exhibited slightly lower training and validation "
                 "loss than the GRU.",
        "figures": [f"{FIGURES_DIR}/{FIG1}.png"],
    },
    "C2": {
        "claim": "The varied, recorded corpus (wesnoth, for David Bowie) has a higher dev loss and "
                 "overfits sooner than the electronic one (warzone2100, for Madeon).",
        "paper": "the David Bowie dataset exhibits a considerably higher dev loss compared to the "
                 "Madeon dataset and appears to overfit far sooner as well.",
        "figures": [f"{FIGURES_DIR}/{FIG1}.png"],
    },
    "C3": {
        "claim": "A larger hidden size gives a lower dev loss; the largest (2048 in the paper) is "
                 "best.",
        "paper": "for both the GRU and LSTM, the dev set error is smaller for a larger number of "
                 "hidden dimensions ... 2048 ... seemed to produce the best results",
        "figures": [f"{FIGURES_DIR}/{FIG2}.png"],
    },
    "C4": {
        "claim": "GRU generations are noise-like and LSTM generations are not.",
        "paper": "The generated outputs of the GRU were unsatisfactory and primarily consisted of "
                 "white noise. ... the generated output of the LSTM network was musically "
                 "plausible.",
        "figures": [f"{FIGURES_DIR}/{GENERATED_AUDIO}.png"],
    },
    "C5": {
        "claim": "GRU predictions put more energy outside the 4–7 kHz band than LSTM predictions.",
        "paper": "the GRU network appears to have far greater activations outside of the band "
                 "range of 4000 - 7000",
        "figures": [f"{FIGURES_DIR}/{FIG3}_{VARIED_CORPUS}.png",
                    f"{FIGURES_DIR}/{FIG3}_{ELECTRONIC_CORPUS}.png"],
    },
    "C6": {
        "claim": "Generations up to about 3× the seed length stay loop-free; longer ones fall into "
                 "loops.",
        "paper": "generating a sequence that is roughly three times larger than the initial seed "
                 "sequence tends to produce coherent music that does not result in generation "
                 "loops ... longer sequences eventually result in these self-perpetuating "
                 "generation loops",
        "figures": [f"{FIGURES_DIR}/{GENERATION_LENGTH}.png"],
    },
    "C7": {
        "claim": "More recurrent layers make the network harder to train.",
        "paper": "adding more recurrent layers made our network much more difficult to train and "
                 "the weights ... were often more likely to become stuck in a local minima early",
        "figures": [f"{FIGURES_DIR}/{DEPTH}.png"],
    },
}


# --------------------------------------------------------------------------------------------
# The seven rules
# --------------------------------------------------------------------------------------------


def verdict_c1(histories: Mapping[str, Mapping[str, Sequence[Mapping]]], *,
               slight: float = SLIGHT_MAX, baselines: Mapping | None = None) -> dict:
    """C1: the LSTM has slightly lower training and dev loss than the GRU, per corpus.

    Parameters
    ----------
    histories : mapping
        ``{corpus: {"lstm": history, "gru": history}}``, each history a list of
        ``{"epoch", "loss", "dev_loss"}`` (Figure 1's runs).
    slight : float
        Largest relative gap ``(GRU - LSTM) / GRU`` that is still "slightly".
    baselines : mapping, optional
        ``{corpus: {"train": {"mean", "persistence", "linear"}, "dev": {...}}}``: with them, a
        corpus's checks are judged only when both models learned (:data:`GATE_RULE`).

    Returns
    -------
    dict
        The claim row: ``id``, ``claim``, ``paper``, ``rule``, ``verdict``, ``checks``,
        ``measured``, ``figures``; with ``baselines`` also ``gates`` (one check per corpus)
        and, when no model learned, ``reason``.
    """
    rule = (f"For each corpus and for the training and the dev loss (each the mean of the last "
            f"{SMOOTH_FRACTION:.0%} of epochs), a check passes when the LSTM's loss is below the "
            f"GRU's beyond the seeds' spread and by at most {slight:.0%} of the GRU's (mean over "
            f"seeds: \"slightly\"), and fails when it is above beyond the spread; overlapping "
            f"ranges, or a gap larger than {slight:.0%}, are undecided.")
    checks, measured, gates = [], {}, []
    for corpus in sorted(histories):
        cells = histories[corpus]
        gate = None
        if baselines is not None:
            gate = _gate_check(corpus, {"LSTM": cells.get(LSTM, []), "GRU": cells.get(GRU, [])},
                               baselines)
            gates.append(gate)
        for key, name in (("loss", "training"), ("dev_loss", "dev")):
            lstm_v = _finals(cells.get(LSTM, []), key)
            gru_v = _finals(cells.get(GRU, []), key)
            lstm, gru = _mean(lstm_v), _mean(gru_v)
            measured[f"{corpus} {name} loss LSTM"] = lstm
            measured[f"{corpus} {name} loss GRU"] = gru
            if len(lstm_v) > 1 or len(gru_v) > 1:
                measured[f"{corpus} {name} loss LSTM seeds"] = lstm_v
                measured[f"{corpus} {name} loss GRU seeds"] = gru_v
            order = separated(lstm_v, gru_v)
            gap = (gru - lstm) / gru if lstm is not None and gru else None
            if order == "above":
                passed = False
            elif order == "below":
                passed = None if gap is not None and gap > slight else True
            else:
                passed = None
            spread = "" if order else " — within the seeds' spread" if lstm_v and gru_v else ""
            checks.append(_gated({"check": f"{corpus}: {name} loss LSTM {_range_text(lstm_v)} < "
                                           f"GRU {_range_text(gru_v)} (gap {_fmt(gap, '.1%')})"
                                           f"{spread}", "passed": passed}, gate))
    if not checks:
        checks.append({"check": "Figure 1 runs", "passed": None})
    return _claim("C1", checks, rule, measured, gates if baselines is not None else None)


def verdict_c2(histories: Mapping[str, Mapping[str, Sequence[Mapping]]], *,
               varied: str = VARIED_CORPUS, electronic: str = ELECTRONIC_CORPUS,
               baselines: Mapping | None = None) -> dict:
    """C2: the varied corpus has the higher dev loss and overfits sooner, for each cell.

    Parameters
    ----------
    histories : mapping
        ``{corpus: {cell: history}}`` (Figure 1's runs).
    varied, electronic : str
        The corpus names standing in for David Bowie and Madeon.
    baselines : mapping, optional
        As for :func:`verdict_c1`.  With them the dev losses are compared relative to each
        corpus's own mean-predictor dev loss (the corpora are normalised by different
        statistics, so their raw losses are not comparable), and a cell's checks are judged
        only when its models learned on both corpora.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    relative = baselines is not None
    scale = ("relative to the corpus's own mean-predictor dev loss (the corpora are "
             "normalised by different statistics, so raw losses are not comparable)"
             if relative else "(raw: no baselines, so the two corpora's scales may differ)")
    rule = (f"For each cell: check 1 passes when {varied}'s final dev loss (mean of the last "
            f"{SMOOTH_FRACTION:.0%} of epochs), {scale}, is above {electronic}'s, and fails "
            "otherwise; "
            f"check 2 passes when {varied} starts to overfit at an earlier epoch (the epoch of "
            f"its lowest dev loss, counted only if the final dev loss ends more than "
            f"{OVERFIT_RISE:.0%} above that lowest value) than {electronic}, fails when "
            f"{electronic} overfits first or only {electronic} overfits, and is undecided when "
            f"neither overfits.")
    checks, measured, gates = [], {}, []
    cells = sorted(set(histories.get(varied, {})) | set(histories.get(electronic, {})))
    for cell in cells:
        hv = replicates(histories.get(varied, {}).get(cell, []))
        he = replicates(histories.get(electronic, {}).get(cell, []))
        dv, de = _finals(hv, "dev_loss"), _finals(he, "dev_loss")
        ovs, oes = [overfit_epoch(h) for h in hv], [overfit_epoch(h) for h in he]
        measured[f"{cell} final dev loss {varied}"] = _mean(dv)
        measured[f"{cell} final dev loss {electronic}"] = _mean(de)
        measured[f"{cell} overfit epoch {varied}"] = ovs[0] if len(ovs) == 1 else ovs
        measured[f"{cell} overfit epoch {electronic}"] = oes[0] if len(oes) == 1 else oes
        gate, what = None, "dev loss"
        if relative:
            gate_v = _gate_check(varied, {cell.upper(): hv}, baselines)
            gate_e = _gate_check(electronic, {cell.upper(): he}, baselines)
            both = [gate_v["passed"], gate_e["passed"]]
            gate = {"check": f"{cell}: {gate_v['check']}; {gate_e['check']}",
                    "passed": False if False in both else (None if None in both else True)}
            gates.append(gate)
            dv = _values([_relative(v, baselines, varied) for v in dv])
            de = _values([_relative(v, baselines, electronic) for v in de])
            measured[f"{cell} final dev loss / mean predictor {varied}"] = _mean(dv)
            measured[f"{cell} final dev loss / mean predictor {electronic}"] = _mean(de)
            what = "dev loss / mean predictor's"
        order = separated(dv, de)
        higher = None if order is None else order == "above"
        checks.append(_gated({"check": f"{cell}: {what} {varied} {_range_text(dv)} > "
                                       f"{electronic} {_range_text(de)}", "passed": higher},
                             gate))
        if not hv or not he or all(o is None for o in ovs + oes):
            sooner = None
        else:  # a run that never overfits counts as overfitting after its last epoch
            never = float("inf")
            order = separated([never if o is None else o for o in ovs],
                              [never if o is None else o for o in oes])
            sooner = None if order is None else order == "below"
        checks.append(_gated({"check": f"{cell}: overfits from epoch {varied} "
                                       f"{_epochs_text(ovs)} before {electronic} "
                                       f"{_epochs_text(oes)} (n/a: no overfitting)",
                              "passed": sooner}, gate))
    if not checks:
        checks.append({"check": "Figure 1 runs", "passed": None})
    return _claim("C2", checks, rule, measured, gates if relative else None)


def _relative(dev_loss, baselines: Mapping, corpus: str):
    """A dev loss over the corpus's mean-predictor dev loss (None where either is unknown)."""
    mean = (((baselines or {}).get(corpus) or {}).get("dev") or {}).get("mean")
    if dev_loss is None or mean is None or not mean > 0:
        return None
    return float(dev_loss) / float(mean)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    import scipy.stats

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    rho = scipy.stats.spearmanr(x, y).statistic
    return float(rho) if math.isfinite(rho) else None


def verdict_c3(series: Mapping[str, Mapping[int, float]], *, min_sizes: int = 3,
               train_series: Mapping[str, Mapping[int, Sequence[Mapping]]] | None = None,
               baselines: Mapping | None = None) -> dict:
    """C3: a larger hidden size gives a lower dev loss, and the largest size is best.

    Parameters
    ----------
    series : mapping
        ``{"<corpus> <cell>": {hidden: final dev loss or list of them, one per seed}}``
        (Figure 2's runs).
    min_sizes : int
        Fewest hidden sizes a series needs to be judged.
    train_series : mapping, optional
        ``{"<corpus> <cell>": {hidden: history}}``, for the gate (with ``baselines``): a series
        is judged only when at least one of its sizes learned.
    baselines : mapping, optional
        As for :func:`verdict_c1`.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    rule = (f"For each corpus and cell with at least {min_sizes} hidden sizes (final dev loss: "
            f"mean of the last {SMOOTH_FRACTION:.0%} of epochs, averaged over seeds): check 1 "
            f"passes when the Spearman rank correlation between hidden size and dev loss is "
            f"negative and the largest size's range lies below the smallest's, fails when the "
            f"correlation is positive and the largest size's range lies above the smallest's; "
            f"check 2 passes when the largest size's range lies below every other size's, fails "
            f"when another size's range lies below the largest's; undecided otherwise.")
    checks, measured, gates = [], {}, []
    gated = baselines is not None and train_series is not None
    if gated:
        rule += " A series' gate passes when at least one of its sizes learned."
    for name in sorted(series):
        gate = None
        if gated:
            corpus = name.split(" ")[0]
            runs = {f"hidden {h}": hist for h, hist in sorted(
                (train_series.get(name) or {}).items())}
            gate = _gate_check(corpus, runs, baselines)
            skills = [all(learned(h, ((baselines.get(corpus) or {}).get("train")))[0]
                          for h in replicates(hist)) if replicates(hist) else None
                      for hist in runs.values()]
            gate["passed"] = (True if any(k is True for k in skills)
                              else None if not skills or any(k is None for k in skills)
                              else False)
            gate["check"] = f"{name}: " + gate["check"].split(": ", 1)[1]
            gates.append(gate)
        seeds = {int(h): _values(v) for h, v in series[name].items()}
        seeds = {h: v for h, v in seeds.items() if v}
        sizes = sorted(seeds)
        losses = [float(np.mean(seeds[h])) for h in sizes]
        measured[f"{name} dev loss by hidden size"] = {str(h): m for h, m in zip(sizes, losses,
                                                                                strict=True)}
        if any(len(v) > 1 for v in seeds.values()):
            measured[f"{name} dev loss by hidden size, seeds"] = {str(h): seeds[h] for h in sizes}
        if len(sizes) < min_sizes:
            checks.append({"check": f"{name}: only {len(sizes)} hidden size(s)", "passed": None})
            continue
        rho = _spearman(sizes, losses)
        measured[f"{name} spearman"] = rho
        ends = separated(seeds[sizes[-1]], seeds[sizes[0]])
        trend = (True if rho is not None and rho < 0 and ends == "below" else
                 False if rho is not None and rho > 0 and ends == "above" else None)
        checks.append(_gated({"check": f"{name}: rank correlation of size and dev loss "
                                       f"{_fmt(rho, '.2f')} < 0, largest size "
                                       f"{_range_text(seeds[sizes[-1]])} vs smallest "
                                       f"{_range_text(seeds[sizes[0]])}",
                              "passed": trend}, gate))
        best = sizes[int(np.argmin(losses))]
        others = [separated(seeds[sizes[-1]], seeds[h]) for h in sizes[:-1]]
        lowest = (True if all(o == "below" for o in others) else
                  False if any(o == "above" for o in others) else None)
        checks.append(_gated({"check": f"{name}: lowest dev loss at the largest size "
                                       f"{sizes[-1]} (lowest mean at {best})",
                              "passed": lowest}, gate))
    if not checks:
        checks.append({"check": "Figure 2 runs", "passed": None})
    return _claim("C3", checks, rule, measured, gates if gated else None)


_NOISE_FLATNESS: float | None = None


def white_noise_flatness() -> float:
    """Spectral flatness of white noise, as :func:`gruvsynth.evaluation.spectral_flatness`
    measures it (one second of seeded Gaussian noise at 44.1 kHz; about 0.97).

    Returns
    -------
    float
    """
    global _NOISE_FLATNESS
    if _NOISE_FLATNESS is None:
        from gruvsynth.evaluation import spectral_flatness

        noise = np.random.default_rng(0).standard_normal(44100)
        _NOISE_FLATNESS = float(spectral_flatness(noise))
    return _NOISE_FLATNESS


def _noise_share(m: Mapping) -> tuple[float | None, int]:
    """Share of a cell's judged samples that are noise-like, and how many were judged."""
    per_sample = m.get("noise_like_samples")
    if per_sample is not None:
        judged = [bool(v) for v in per_sample if v is not None]
        return (sum(judged) / len(judged) if judged else None), len(judged)
    share = m.get("noise_like")
    if isinstance(share, bool):
        share = float(share)
    return (float(share) if isinstance(share, (int, float)) else None), 0


def _calibration_text(corpus: str, cal: Mapping | None) -> str:
    if not cal:
        return f"{corpus}: no calibration"
    a, m = cal.get("anchors") or {}, cal.get("margins") or {}

    def score(name):
        return _fmt((a.get(name) or {}).get("score"), ".3g")

    def margin(name):
        return f"×{_fmt(m.get(name), '.2g')}"

    return (f"{corpus}: dev music {score('music')}, corpus-shaped noise "
            f"{score('corpus_noise')}, white noise {score('white_noise')}, chord "
            f"{score('chord')}; threshold {_fmt(cal.get('threshold'), '.3g')}; margins "
            f"{margin('music')} music, {margin('corpus_noise')} corpus-shaped noise, "
            f"{margin('white_noise')} white noise, {margin('chord')} chord"
            + ("" if cal.get("separated") else " (NOT separated: no verdict)"))


def verdict_c4(metrics: Mapping[str, Mapping[str, Mapping]]) -> dict:
    """C4: the GRU's generations are noise-like, the LSTM's are not (calibrated per corpus).

    Parameters
    ----------
    metrics : mapping
        ``{corpus: {"calibration": {...}, "lstm": {...}, "gru": {...}}}``: ``calibration``
        from :func:`gruvsynth.noise.calibrate` on the corpus (``anchors``, ``threshold``,
        ``margins``, ``separated``); each cell's dict holds ``noise_like_samples`` (each
        generated sample's verdict: True, False or None for too quiet / too short) — or,
        without it, ``noise_like``, the share of noise-like samples — and
        ``shape_distance_db`` (the level-matched log-spectral distance to the dev set's mean
        spectrum, mean over the samples); all measured on the blocks after the seed.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    from gruvsynth.noise import NOISE_RULE

    cals = [_calibration_text(c, (metrics[c] or {}).get("calibration")) for c in sorted(metrics)]
    rule = (f"{NOISE_RULE} For each corpus whose calibration separates its anchors: check 1 "
            "passes when more than half of the GRU's judged samples are noise-like and fails "
            "when fewer than half are; check 2 passes when fewer than half of the LSTM's are "
            "and fails when more than half are (undecided at exactly half, or when no sample "
            "was judged: all too quiet or too short). Check 3 passes when the GRU's "
            "generations are further than the LSTM's from the dev set's mean spectrum after "
            "matching their level to it (level-matched log-spectral distance, dB; mean over the "
            "samples), and fails otherwise. Calibration (noise distance of each anchor, median "
            "over 10 s clips; margin: the factor by which the anchor lies on its side of the "
            "threshold): " + ("; ".join(cals) if cals else "none") + ".")
    checks, measured = [], {}
    for corpus in sorted(metrics):
        m = metrics[corpus] or {}
        cal = m.get("calibration") or {}
        anchors = cal.get("anchors") or {}
        for name, label in (("music", "dev music"), ("corpus_noise", "corpus-shaped noise"),
                            ("white_noise", "white noise"), ("chord", "chord")):
            measured[f"{corpus} noise distance {label}"] = (anchors.get(name) or {}).get("score")
        measured[f"{corpus} noise-like threshold"] = cal.get("threshold")
        for name, value in (cal.get("margins") or {}).items():
            measured[f"{corpus} margin {name}"] = value
        calibrated = bool(cal.get("separated")) and cal.get("threshold") is not None
        why = ("no calibration" if not cal else
               "the calibration did not separate its anchors" if not calibrated else "")
        for cell, label, want in ((GRU, "GRU", True), (LSTM, "LSTM", False)):
            share, judged = _noise_share(m.get(cell) or {})
            measured[f"{corpus} noise-like share {label}"] = share
            dev_seeded = [v for v in (m.get(cell) or {}).get("noise_like_samples_dev") or []
                          if v is not None]
            if dev_seeded:
                measured[f"{corpus} noise-like share {label}, dev seeds (reported, not "
                         "judged)"] = sum(dev_seeded) / len(dev_seeded)
            measured[f"{corpus} noise distance {label}"] = (m.get(cell) or {}).get(
                "noise_distance")
            if not calibrated or share is None:
                passed = None
            elif share == 0.5:
                passed = None
            else:
                passed = (share > 0.5) == want
            text = (f"{corpus}: {_fmt(share, '.0%')} of the {label}'s "
                    + (f"{judged} judged " if judged else "") + "samples noise-like "
                    + ("(want more than half)" if want else "(want fewer than half)"))
            checks.append({"check": text + (f" — not judged: {why}" if why else ""),
                           "passed": passed})
        lsd_gru = (m.get(GRU) or {}).get("shape_distance_db")
        lsd_lstm = (m.get(LSTM) or {}).get("shape_distance_db")
        measured[f"{corpus} level-matched spectral distance LSTM (dB)"] = lsd_lstm
        measured[f"{corpus} level-matched spectral distance GRU (dB)"] = lsd_gru
        checks.append({"check": f"{corpus}: level-matched spectral distance GRU "
                                f"{_fmt(lsd_gru, '.2f')} dB > LSTM {_fmt(lsd_lstm, '.2f')} dB",
                       "passed": None if lsd_gru is None or lsd_lstm is None
                       else lsd_gru > lsd_lstm})
    if not metrics:
        checks.append({"check": "generated samples", "passed": None})
    return _claim("C4", checks, rule, measured)


def log_odds(share) -> float | None:
    """``log(share / (1 - share))``: the log of out-of-band over in-band energy.

    Parameters
    ----------
    share : float or None
        The share of the energy outside the band (0 … 1).

    Returns
    -------
    float or None
        None for an unknown share; ±inf at 0 and 1.
    """
    if share is None or not math.isfinite(float(share)):
        return None
    share = float(share)
    if share <= 0.0:
        return float("-inf")
    if share >= 1.0:
        return float("inf")
    return math.log(share / (1.0 - share))


def verdict_c5(shares: Mapping[str, Mapping[str, float]], *, margin: float = BAND_MARGIN,
               band: Sequence[float] = (4000.0, 7000.0)) -> dict:
    """C5: the GRU's predictions put more energy outside the 4–7 kHz band than the LSTM's.

    The shares outside the band are all close to 1 (real dev audio has 0.2–2.3 % of its energy
    in 4–7 kHz), so they are compared on the scale of the odds, out-of-band over in-band
    energy, as a log ratio: ``log(odds_GRU / odds_LSTM)``.

    Parameters
    ----------
    shares : mapping
        ``{corpus: {"truth": share, "lstm": share or list, "gru": share or list}}``: the share
        of the energy of the mean predicted (or true) dev spectrum that lies outside the band
        (Figure 3's data), one per seed in a list for replicates.
    margin : float
        Log ratios within ``±margin`` are ties (with replicates the ranges must not overlap
        too).
    band : (float, float)
        The band in Hz (for the rule text).

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    lo, hi = (b / 1000 for b in band)
    rule = (f"The paper's \"4000 - 7000\" has no unit; it is read as Hz ({lo:g}–{hi:g} kHz), "
            "the frequencies its Figure 3 spectrograms show and the only reading that fits "
            "inside the 0–22.05 kHz a 44.1 kHz block holds (as FFT bin numbers it would be "
            "16–28 kHz). For each corpus, from the mean spectrum of the predictions for every "
            "dev block (Figure 3), each model's odds are its energy outside the band over its "
            "energy inside; the check passes when the GRU's log odds exceed the LSTM's beyond "
            f"the seeds' spread and by more than {margin:g} (odds {math.exp(margin):.2f}× the "
            "LSTM's), fails when they are lower in the same way, and is undecided otherwise.")
    checks, measured = [], {}
    for corpus in sorted(shares):
        s = shares[corpus]
        gru_s, lstm_s, truth = _values(s.get(GRU)), _values(s.get(LSTM)), s.get("truth")
        gru_l = [log_odds(v) for v in gru_s]
        lstm_l = [log_odds(v) for v in lstm_s]
        measured[f"{corpus} outside-band share truth"] = truth
        measured[f"{corpus} outside-band share LSTM"] = _mean(lstm_s)
        measured[f"{corpus} outside-band share GRU"] = _mean(gru_s)
        ratio = None
        if gru_l and lstm_l and all(math.isfinite(v) for v in gru_l + lstm_l):
            ratio = float(np.mean(gru_l) - np.mean(lstm_l))
        measured[f"{corpus} log odds ratio GRU / LSTM"] = ratio
        order = separated(gru_l, lstm_l) if ratio is not None else None
        if order == "above" and ratio > margin:
            passed = True
        elif order == "below" and ratio < -margin:
            passed = False
        else:
            passed = None
        checks.append({"check": f"{corpus}: outside-band odds GRU/LSTM, log ratio "
                                f"{_fmt(ratio, '.3f')} > {margin:g} (shares GRU "
                                f"{_range_text(gru_s, '.4f')}, LSTM "
                                f"{_range_text(lstm_s, '.4f')})", "passed": passed})
    if not shares:
        checks.append({"check": "Figure 3 data", "passed": None})
    return _claim("C5", checks, rule, measured)


def verdict_c6(rows: Sequence[Mapping], *, cells: Sequence[str] = LOOP_CELLS,
               loop_free_times: float = LOOP_FREE_TIMES, rare: float = LOOP_RARE,
               common: float = LOOP_COMMON) -> dict:
    """C6: generations up to about 3× the seed are loop-free; longer ones loop.

    Parameters
    ----------
    rows : sequence of dict
        One per generated sample and length: ``corpus``, ``cell``, ``seed_blocks``,
        ``sample``, ``times`` (length as a multiple of the seed) and ``looped`` (bool: the
        sequence cut at that length ends in a loop, :func:`gruvsynth.evaluation.detect_loop`);
        ``protocol`` where the seeds came from (``"train"``, the authors' protocol, when
        missing).  Only training-seeded rows are judged; dev-seeded ones are reported in
        ``measured`` beside them.
    cells : sequence of str
        The cells judged (default the LSTM, whose generations the paper describes).
    loop_free_times : float
        The length the paper found loop-free (3).
    rare, common : float
        Shares of looped samples that count as rare and common.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    rule = (f"For each corpus, over the {', '.join(c.upper() for c in cells)} samples of every "
            f"seed size: check 1 (short) takes the longest tested length up to "
            f"{loop_free_times:g}× the seed and passes when at most {rare:.0%} of the samples "
            f"cut there end in a loop, fails when at least {common:.0%} do; check 2 (long) takes "
            f"the longest tested length and passes when it is above {loop_free_times:g}× and at "
            f"least {common:.0%} of the samples loop, fails when at most {rare:.0%} do; "
            f"undecided in between. Judged on samples seeded from training windows (the "
            f"authors' protocol); those seeded from dev windows are reported, not judged.")
    checks, measured = [], {}
    use = [r for r in rows if r.get("cell") in cells and r.get("looped") is not None]
    dev = [r for r in use if r.get("protocol") == "dev"]
    use = [r for r in use if r.get("protocol", "train") == "train"]
    for corpus in sorted({r["corpus"] for r in use}):
        mine = [r for r in use if r["corpus"] == corpus]
        lengths = sorted({float(r["times"]) for r in mine})
        short = [t for t in lengths if t <= loop_free_times + 1e-9]
        for label, t, want_loops in (("short", short[-1] if short else None, False),
                                     ("long", lengths[-1] if lengths else None, True)):
            if t is None or (want_loops and t <= loop_free_times + 1e-9):
                checks.append({"check": f"{corpus}: no tested length for the {label} check",
                               "passed": None})
                continue
            at = [bool(r["looped"]) for r in mine if abs(float(r["times"]) - t) < 1e-9]
            share = float(np.mean(at)) if at else None
            measured[f"{corpus} looped share at {t:g}x"] = share
            beside = [bool(r["looped"]) for r in dev
                      if r["corpus"] == corpus and abs(float(r["times"]) - t) < 1e-9]
            if beside:
                measured[f"{corpus} looped share at {t:g}x, dev seeds (reported, not "
                         "judged)"] = float(np.mean(beside))
            if share is None:
                passed = None
            elif want_loops:
                passed = True if share >= common else (False if share <= rare else None)
            else:
                passed = True if share <= rare else (False if share >= common else None)
            checks.append({"check": f"{corpus}: {_fmt(share, '.0%')} of {len(at)} samples loop "
                                    f"at {t:g}× the seed ({label})", "passed": passed})
    if not checks:
        checks.append({"check": "generation-length data", "passed": None})
    return _claim("C6", checks, rule, measured)


def verdict_c7(histories: Mapping[str, Mapping[int, Sequence[Mapping]]], *,
               margin: float = DEPTH_MARGIN, baselines: Mapping | None = None) -> dict:
    """C7: more recurrent layers are harder to train (higher final training loss).

    Parameters
    ----------
    histories : mapping
        ``{"<corpus> <cell>": {layers: history}}`` (the depth experiment's runs).
    margin : float
        Relative difference of the final training loss that counts.
    baselines : mapping, optional
        As for :func:`verdict_c1`: a series is judged only when its one-layer network learned
        (a deeper one that did not learn is what the claim predicts).

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    rule = (f"For each corpus and cell, comparing the deepest network tried with one layer after "
            f"the same number of epochs (final training loss: mean of the last "
            f"{SMOOTH_FRACTION:.0%} of epochs, averaged over seeds): the check passes when the "
            f"deeper network's loss is higher by more than {margin:.0%} and beyond the seeds' "
            f"spread, fails when it is lower in the same way, and is undecided otherwise.")
    checks, measured, gates = [], {}, []
    if baselines is not None:
        rule += " The gate looks at the one-layer network only."
    for name in sorted(histories):
        by_layers = {int(k): v for k, v in histories[name].items()}
        gate = None
        if baselines is not None:
            gate = _gate_check(name.split(" ")[0], {"1 layer": by_layers.get(1, [])}, baselines)
            gate["check"] = f"{name}: " + gate["check"].split(": ", 1)[1]
            gates.append(gate)
        seeds = {k: _finals(h, "loss") for k, h in sorted(by_layers.items())}
        finals = {k: _mean(v) for k, v in seeds.items()}
        measured[f"{name} final training loss by layers"] = {str(k): v for k, v in finals.items()}
        if any(len(v) > 1 for v in seeds.values()):
            measured[f"{name} final training loss by layers, seeds"] = {
                str(k): v for k, v in seeds.items()}
        deepest = max(by_layers) if by_layers else None
        one, deep = finals.get(1), finals.get(deepest) if deepest else None
        if deepest is None or deepest == 1 or one is None or deep is None:
            checks.append({"check": f"{name}: needs 1 layer and more", "passed": None})
            continue
        ratio = deep / one if one else None
        order = separated(seeds[deepest], seeds[1])
        if ratio is None or order is None:
            passed = None
        elif ratio > 1 + margin and order == "above":
            passed = True
        elif ratio < 1 - margin and order == "below":
            passed = False
        else:
            passed = None
        checks.append(_gated({"check": f"{name}: training loss {deepest} layers "
                                       f"{_range_text(seeds[deepest])} vs 1 layer "
                                       f"{_range_text(seeds[1])} (ratio {_fmt(ratio, '.3f')})",
                              "passed": passed}, gate))
    if not checks:
        checks.append({"check": "depth runs", "passed": None})
    return _claim("C7", checks, rule, measured, gates if baselines is not None else None)


# --------------------------------------------------------------------------------------------
# Gathering a results folder
# --------------------------------------------------------------------------------------------


def _runs(data) -> list[dict]:
    return list((data or {}).get("runs") or [])


def collect(out_dir) -> dict:
    """Read a results folder's JSON files into the inputs of the seven rules.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The results folder.

    Raises
    ------
    GruvError
        A file is not valid JSON, or not of the shape its name promises (:data:`SCHEMAS`).

    Returns
    -------
    dict
        ``c1``/``c2`` (``{corpus: {cell: history}}``), ``c3`` (``{"<corpus> <cell>": {hidden:
        final dev loss}}``), ``c3_train`` (the same runs' histories), ``c4`` (``{corpus: {"dev"|"calibration"|cell:
        ...}}``: each cell's mean metrics with ``noise_like_samples``, every sample's verdict),
        ``c5`` (``{corpus:
        {"truth"|cell: share}}``), ``c6`` (rows), ``c7`` (``{"<corpus> <cell>": {layers:
        history}}``), ``band``, ``baselines`` (``{corpus: {split: {"mean", "persistence",
        "linear"}}}`` from ``baselines.json``, or None) and the raw files (``fig1``, ``fig2``, ``fig3``, ``samples``,
        ``generation_length``, ``depth``, ``reproduction``; ``None`` where missing).
    """
    out = Path(out_dir)
    fig = out / FIGURES_DIR
    raw = {
        "fig1": _read_results(fig / f"{FIG1}.json", FIG1),
        "fig2": _read_results(fig / f"{FIG2}.json", FIG2),
        "fig3": _read_results(fig / f"{FIG3}.json", FIG3),
        "samples": _read_results(out / SAMPLES_DIR / SAMPLES_JSON, SAMPLES_JSON),
        "generation_length": _read_results(fig / f"{GENERATION_LENGTH}.json",
                                           GENERATION_LENGTH),
        "depth": _read_results(fig / f"{DEPTH}.json", DEPTH),
        "reproduction": _read_results(out / REPRODUCTION_JSON, REPRODUCTION_JSON),
    }
    c1: dict = {}
    for r in _runs(raw["fig1"]):  # each configuration's replicates (one run per seed)
        c1.setdefault(r["corpus"], {}).setdefault(r["cell"], []).append(r.get("history") or [])
    c3: dict = {}
    c3_train: dict = {}
    for r in _runs(raw["fig2"]):
        name = f"{r['corpus']} {r['cell']}"
        c3.setdefault(name, {}).setdefault(int(r["hidden"]), []).append(
            final_value(r.get("history") or [], "dev_loss"))
        c3_train.setdefault(name, {}).setdefault(int(r["hidden"]), []).append(
            r.get("history") or [])
    c4: dict = {}
    samples = raw["samples"] or {}
    for corpus, dev in (samples.get("dev_audio") or {}).items():
        c4.setdefault(corpus, {})["dev"] = dev
    for corpus, cal in (samples.get("calibration") or {}).items():
        c4.setdefault(corpus, {})["calibration"] = cal
    verdicts: dict = {}
    for sample in samples.get("samples") or []:
        metrics = sample.get("metrics") or {}
        if "noise_like" in metrics:
            value = metrics["noise_like"]
            # the authors' protocol (training seeds) is judged; dev seeds are reported
            key = "noise_like_samples_dev" if sample.get("protocol") == "dev" else \
                "noise_like_samples"
            verdicts.setdefault((sample["corpus"], sample["cell"]), {}).setdefault(
                key, []).append(value if isinstance(value, bool) else None)
    for corpus, cells in (samples.get("means") or {}).items():
        for cell, m in cells.items():
            entry = dict(m or {})
            entry.update(verdicts.get((corpus, cell), {}))
            c4.setdefault(corpus, {})[cell] = entry
    c5: dict = {}
    band = (4000.0, 7000.0)
    if raw["fig3"]:
        band = tuple(raw["fig3"].get("band_hz") or band)
        for corpus, entry in (raw["fig3"].get("corpora") or {}).items():
            row = {"truth": (entry.get("truth") or {}).get("outside_band")}
            for cell, m in (entry.get("cells") or {}).items():
                row[cell] = m.get("outside_band_seeds") or m.get("outside_band")
            c5[corpus] = row
    c6 = list((raw["generation_length"] or {}).get("rows") or [])
    c7: dict = {}
    for r in _runs(raw["depth"]):
        c7.setdefault(f"{r['corpus']} {r['cell']}", {}).setdefault(int(r["layers"]), []).append(
            r.get("history") or [])
    baselines = _read_results(out / BASELINES_JSON, BASELINES_JSON)
    return {"c1": c1, "c2": c1, "c3": c3, "c3_train": c3_train, "c4": c4, "c5": c5, "c6": c6,
            "c7": c7, "band": band, "baselines": (baselines or {}).get("corpora"),
            DRY_RUN: dry_run_in(raw), **raw}


def dry_run_in(raw: Mapping) -> dict | None:
    """The dry-run overrides recorded in any of a folder's results files, or None.

    Parameters
    ----------
    raw : mapping
        The parsed results files (:func:`collect`'s ``fig1``, ..., ``reproduction``).

    Returns
    -------
    dict or None
        ``{"max_epochs", "songs"}`` of the first file that has them (``reproduction.json``
        first): one capped file is enough to make the whole folder a dry run.
    """
    for key in ("reproduction", *(k for k in _RAW_KEYS if k != "reproduction")):
        found = (raw.get(key) or {}).get(DRY_RUN)
        if found:
            return dict(found)
    return None


def describe_dry_run(dry_run: Mapping | None) -> str:
    """The options of a dry run as given on the command line, e.g. ``--max-epochs 1 --songs 2``."""
    if not dry_run:
        return ""
    parts = [f"--max-epochs {dry_run['max_epochs']}" if dry_run.get("max_epochs") else "",
             f"--songs {dry_run['songs']}" if dry_run.get("songs") else ""]
    return " ".join(p for p in parts if p)


def _family_of(cell) -> str | None:
    return CELL_FAMILIES.get(cell)


def _split_cells(mapping: Mapping, family: str, *, keep=("dev", "truth", "calibration")) -> dict:
    """``{cell: v}`` → ``{role: v}`` for the family's cells (``keep``: other keys kept)."""
    out = {}
    for cell, value in (mapping or {}).items():
        if cell in keep:
            out[cell] = value
        elif _family_of(cell) == family:
            out[CELL_ROLES[cell]] = value
    return out


def _split_named(mapping: Mapping, family: str) -> dict:
    """``{"<corpus> <cell>": v}`` → ``{"<corpus> <role>": v}`` for the family's cells."""
    out = {}
    for name, value in (mapping or {}).items():
        corpus, _, cell = name.rpartition(" ")
        if _family_of(cell) == family:
            out[f"{corpus} {CELL_ROLES[cell]}"] = value
    return out


def families_in(data: Mapping) -> list[str]:
    """The cell families that :func:`collect`'s data has runs of, in :data:`FAMILY_ORDER`.

    Parameters
    ----------
    data : mapping
        From :func:`collect`.

    Returns
    -------
    list of str
        :data:`DEFAULT_FAMILIES` when there is no run at all.
    """
    cells = set()
    for key in ("c1", "c4", "c5"):
        for per_corpus in (data.get(key) or {}).values():
            cells |= set(per_corpus)
    for key in ("c3", "c7"):
        cells |= {name.rpartition(" ")[2] for name in (data.get(key) or {})}
    cells |= {r.get("cell") for r in data.get("c6") or []}
    found = {_family_of(c) for c in cells} - {None}
    return [f for f in FAMILY_ORDER if f in found] or list(DEFAULT_FAMILIES)


def family_data(data: Mapping, family: str) -> dict:
    """:func:`collect`'s data restricted to one family, its cells renamed ``lstm``/``gru``.

    Parameters
    ----------
    data : mapping
        From :func:`collect`.
    family : str
        A key of :data:`gruvsynth.defaults.FAMILY_LABELS`.

    Returns
    -------
    dict
        The same keys as ``data``, the rules' inputs holding only the family's runs.
    """
    out = dict(data)
    for key in ("c1", "c2", "c4", "c5"):
        out[key] = {corpus: _split_cells(v, family) for corpus, v in (data.get(key) or {}).items()}
        out[key] = {k: v for k, v in out[key].items()
                    if set(v) - {"dev", "truth", "calibration"}}
    for key in ("c3", "c3_train", "c7"):
        out[key] = _split_named(data.get(key) or {}, family)
    out["c6"] = [{**r, "cell": CELL_ROLES[r["cell"]]} for r in data.get("c6") or []
                 if _family_of(r.get("cell")) == family]
    return out


def compute_claims(data: Mapping) -> list[dict]:
    """The claim rows from :func:`collect`'s result: each of the seven claims judged for each
    cell family that was run (:func:`families_in`), separately.

    Loss-based claims (C1, C2, C3, C7) are gated on the baselines (:data:`GATE_RULE`) when the
    data has them.  For a dry run (``data["dry_run"]``) every verdict is
    :data:`INCONCLUSIVE`, the reason says so, and ``rule_verdict`` keeps what the rule gave.

    Parameters
    ----------
    data : mapping
        From :func:`collect`.

    Returns
    -------
    claims : list of dict
        In the order C1 … C7, each claim's families in :data:`FAMILY_ORDER` (see
        :func:`verdict_c1` for the keys), plus ``family`` and ``family_label``.
    """
    baselines = data.get("baselines")
    families = families_in(data)
    per_family = {f: family_data(data, f) for f in families}
    rows = []
    for cid in CLAIM_IDS:
        for family in families:
            d = per_family[family]
            if cid == "C1":
                row = verdict_c1(d.get("c1") or {}, baselines=baselines)
            elif cid == "C2":
                row = verdict_c2(d.get("c2") or {}, baselines=baselines)
            elif cid == "C3":
                row = verdict_c3(d.get("c3") or {}, train_series=d.get("c3_train") or {},
                                 baselines=baselines)
            elif cid == "C4":
                row = verdict_c4(d.get("c4") or {})
            elif cid == "C5":
                row = verdict_c5(d.get("c5") or {}, band=d.get("band") or (4000.0, 7000.0))
            elif cid == "C6":
                row = verdict_c6(d.get("c6") or [])
            else:
                row = verdict_c7(d.get("c7") or {}, baselines=baselines)
            rows.append({**row, "family": family, "family_label": FAMILY_LABELS[family]})
    dry_run = data.get(DRY_RUN)
    if dry_run:  # a capped run proves the pipeline, not the paper
        for row in rows:
            rule = row["verdict"] + (f", {row['reason']}" if row.get("reason") else "")
            row.update(rule_verdict=row["verdict"], verdict=INCONCLUSIVE,
                       reason=f"{DRY_RUN_BANNER} ({describe_dry_run(dry_run)}; the rule alone "
                              f"gives: {rule})")
    return rows


def findings(claims: Sequence[Mapping]) -> list[str]:
    """Sentences for the claims whose verdict differs between cell families.

    Parameters
    ----------
    claims : sequence of dict
        From :func:`compute_claims`.

    Returns
    -------
    list of str
    """
    out = []
    for cid in CLAIM_IDS:
        mine = [c for c in claims if c["id"] == cid]
        if len({c["verdict"] for c in mine}) < 2:
            continue
        parts = [f"{c['verdict']}" + (f" ({c['reason']})" if c.get("reason") else "")
                 + f" for {c.get('family_label', c.get('family'))}" for c in mine]
        decided = {c["verdict"] for c in mine} - {INCONCLUSIVE}
        why = ("the family of cells changes the answer" if len(decided) > 1 else
               "only one family's data decides it")
        out.append(f"{cid} is {'; '.join(parts)}: {why}.")
    return out


def _mark(passed) -> str:
    return "✔" if passed is True else "✘" if passed is False else "?"


def baselines_markdown(baselines: Mapping | None) -> str:
    """The trivial predictors' losses per corpus and split, as a Markdown table.

    Parameters
    ----------
    baselines : mapping or None
        ``{corpus: {split: {"mean", "persistence", "linear"}}}``.

    Returns
    -------
    str
        Empty without baselines.
    """
    if not baselines:
        return ""
    lines = ["| corpus | split | mean predictor | persistence | linear persistence |",
             "|---|---|---|---|---|"]
    for corpus in sorted(baselines):
        for split in ("train", "dev"):
            b = (baselines[corpus] or {}).get(split) or {}
            lines.append(f"| {corpus} | {split} | {_fmt(b.get('mean'))} | "
                         f"{_fmt(b.get('persistence'))} | {_fmt(b.get('linear'))} |")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(claims: Sequence[Mapping], *, title: str = "Claims of the paper",
                    baselines: Mapping | None = None, dry_run: Mapping | None = None) -> str:
    """The claims table as Markdown: one row per claim, then each claim's checks and rule.

    Parameters
    ----------
    claims : sequence of dict
        From :func:`compute_claims`.
    title : str
    baselines : mapping, optional
        Shown as a table first (:func:`baselines_markdown`).
    dry_run : mapping, optional
        A dry run's overrides: the text starts with :data:`DRY_RUN_BANNER` in capitals.

    Returns
    -------
    str
    """
    lines = []
    if dry_run:
        lines += [f"# {DRY_RUN_BANNER.upper()}", "",
                  f"> **{DRY_RUN_BANNER.capitalize()}.** These results were made with "
                  f"`{describe_dry_run(dry_run)}`: the runs were capped to prove that the "
                  "profile starts, checkpoints, generates and reports. Every claim below is "
                  "inconclusive; none of the figures says anything about the paper.", ""]
    lines += [f"# {title}", "",
             "Verdicts are computed from the measured data by the rule beside each claim "
             "(`gruvsynth report` recomputes them).", ""]
    if baselines:
        lines += ["What trivial predictors get on the same blocks (normalised MSE; a model "
                  "that does not beat these by the gate's margin has not learned):", "",
                  baselines_markdown(baselines), ""]
    lines += [
             "Each claim is judged separately for each family of cells: the authors' cells "
             "(Keras 0.1's LSTM and GRU, what produced the paper's numbers) and today's cells "
             "(Keras 3's).", "",
             "| claim | cells | verdict | measured (checks) | rule |", "|---|---|---|---|---|"]
    for c in claims:
        checks = "; ".join(f"{_mark(k['passed'])} {k['check']}"
                           for k in [*c.get("gates", []), *c["checks"]])
        verdict = c["verdict"] + (f" ({c['reason']})" if c.get("reason") else "")
        lines.append(f"| **{c['id']}** {_md_cell(c['claim'])} | "
                     f"{_md_cell(c.get('family_label', ''))} | **{_md_cell(verdict)}** | "
                     f"{_md_cell(checks)} | {_md_cell(c['rule'])} |")
    lines += ["", "✔ passed, ✘ failed, ? undecided or no data (gates first).", ""]
    found = findings(claims)
    if found:
        lines += ["## Findings", ""] + [f"- {f}" for f in found] + [""]
    for c in claims:
        family = f" ({c['family_label']})" if c.get("family_label") else ""
        lines += [f"## {c['id']}{family}: {c['verdict']}", "", f"*Claim:* {c['claim']}", "",
                  f"*Paper:* \"{c['paper']}\"", "", f"*Rule:* {c['rule']}", "",
                  "*Figures:* " + ", ".join(f"[{f}]({f})" for f in c["figures"]), "",
                  "| measured | value |", "|---|---|"]
        for key, value in c["measured"].items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else _fmt(value)
            lines.append(f"| {_md_cell(key)} | {_md_cell(text)} |")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.verdict { font-weight: bold; white-space: nowrap; }
.reproduced { background: #d9f2d9; } .not-reproduced { background: #f8d7d7; }
.inconclusive { background: #fff3cd; }
.dry-run { font-size: 2.4em; font-weight: bold; text-align: center; text-transform: uppercase;
           color: #fff; background: #b00020; padding: .4em; margin: .3em 0; }
.rule { font-size: .85em; color: #444; max-width: 28em; }
.checks { margin: 0; padding-left: 1.1em; font-size: .88em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
img.spectrogram { width: 420px; max-width: 100%; margin-top: 0.3em; }
figcaption { font-size: .9em; color: #444; }
audio { width: 16em; } .metrics td { font-size: .85em; } .small { font-size: .85em; color: #555; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: .85em; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _rel_link(out: Path, name: str, label: str | None = None) -> str:
    """A link to a file of the results folder, or the label alone when the file is missing."""
    label = label or name
    if (out / name).exists():
        return f'<a href="{_e(name)}">{_e(label)}</a>'
    return _e(label)


def _figure_entries(out: Path) -> list[tuple[str, str]]:
    """(stem, caption) of every figure present, in the page's order."""
    entries = [
        (FIG1, "Figure 1 — training (dashed) and dev (solid) loss per epoch, GRU vs LSTM, on "
               "both corpora."),
        (FIG2, "Figure 2 — dev loss against hidden size, both cells."),
    ]
    for png in sorted((out / FIGURES_DIR).glob(f"{FIG3}_*.png")):
        corpus = png.stem[len(FIG3) + 1:]
        entries.append((png.stem, f"Figure 3 — mean spectrogram over the dev clips of "
                                  f"{corpus}: ground truth vs LSTM vs GRU predictions, and "
                                  f"their mean spectra with the 4–7 kHz band shaded."))
    entries += [
        (GENERATED_AUDIO, "Claim C4: the generated samples (blocks after the seed) on each "
                          "corpus's calibrated noise scale — the noise distance of the dev "
                          "music and the noise anchors, the threshold, each cell's samples — "
                          "and their level-matched spectral distance to the dev audio."),
        (GENERATION_LENGTH, "Generation loops and spectral flatness against generation length "
                            "(multiple of the seed) for several seed sizes."),
        (DEPTH, "1, 2 and 3 recurrent layers: training (dashed) and dev (solid) loss."),
    ]
    return [(stem, cap) for stem, cap in entries if (out / FIGURES_DIR / f"{stem}.png").exists()]


_SAMPLE_METRICS = (
    ("noise_verdict", "noise-likeness (calibrated)", "s"),
    ("noise_distance", "noise distance", ".3g"),
    ("spectral_flatness", "spectral flatness", ".3f"),
    ("outside_band", "energy outside 4–7 kHz", ".3f"),
    ("log_spectral_distance_db", "distance to dev spectrum (dB)", ".1f"),
    ("shape_distance_db", "the same, level matched (dB)", ".1f"),
    ("rms", "RMS", ".4f"),
    ("clipped_share", "clipped share", ".4f"),
    ("loop_free_times", "loop-free length (× seed)", ".2f"),
    ("novelty_median_distance", "distance to nearest training block", ".3f"),
    ("near_copy_share", "near-copy share", ".2f"),
)


def _flat_metrics(m: Mapping) -> dict:
    flat = dict(m)
    loop = m.get("loop") or {}
    nov = m.get("novelty") or {}
    flat.setdefault("loop_free_times", loop.get("loop_free_times"))
    flat.setdefault("novelty_median_distance", nov.get("median_distance"))
    flat.setdefault("near_copy_share", nov.get("near_copy_share"))
    return flat


def _metrics_table(m: Mapping) -> str:
    flat = _flat_metrics(m)
    rows = "".join(f"<tr><td>{_e(label)}</td><td>{_e(_fmt(flat.get(key), spec))}</td></tr>"
                   for key, label, spec in _SAMPLE_METRICS if key in flat)
    return f'<table class="metrics">{rows}</table>'


def _audio(out: Path, name: str | None, *, source: str) -> str:
    if not name:
        return '<span class="small">missing</span>'
    link = safe_link(out, name, source=source)
    missing = "" if (out / name).exists() else ' <span class="small">(file missing)</span>'
    return (f'<audio controls preload="metadata" src="{_e(link)}"></audio>'
            f'<br><a class="small" href="{_e(link)}">{_e(Path(name).name)}</a>{missing}')


def _image(out: Path, name: str | None, *, source: str, alt: str) -> str:
    if not name:
        return ""
    link = safe_link(out, name, source=source)
    if not (out / name).exists():
        return '<span class="small">(spectrogram missing)</span>'
    return f'<img class=spectrogram src="{_e(link)}" alt="{_e(alt)}">'


#: The sample sets on the page, in order: the authors' protocol first.
SAMPLE_PROTOCOLS = {
    "train": "Authors' protocol: seeds from random training windows (their generate script "
             "copies a training clip); claims C4 and C6 are judged on these",
    "dev": "Seeds from dev songs (music the model never trained on): reported, not judged",
}


def _sample_row(out: Path, s: Mapping, i: int, where: str) -> str:
    seed = s.get("seed") or {}
    origin = (f"{_e(seed.get('source', ''))} song {_e(seed.get('song', ''))}, from block "
              f"{_e(seed.get('start_block', ''))}, {_e(seed.get('blocks', ''))} blocks")
    copy = f"<br><b>{_e(s['copy'])}</b>" if s.get("copy") else ""
    label = CELL_LABELS.get(str(s["cell"]), str(s["cell"]).upper())
    picture = _image(out, s.get("spectrogram"), source=f"{where}: samples[{i}].spectrogram",
                     alt=f"spectrogram of {s['corpus']} {label} sample")
    return (f"<tr><td>{_e(s['corpus'])}</td><td>{_e(label)}<br>"
            f"<span class=small>hidden {_e(s.get('hidden'))}</span></td>"
            f"<td>{_audio(out, s.get('seed_wav'), source=f'{where}: samples[{i}].seed_wav')}"
            f"<br><span class=small>{origin}</span></td>"
            f"<td>{_audio(out, s.get('wav'), source=f'{where}: samples[{i}].wav')}{copy}"
            f"<br>{picture}</td>"
            f"<td>{_metrics_table(s.get('metrics') or {})}"
            f"</td></tr>")


def _samples_section(out: Path, samples: Mapping | None) -> str:
    if not samples or not samples.get("samples"):
        return "<p>No generated samples yet (run <code>fig3_spectrograms.py</code>).</p>"
    dev = samples.get("dev_audio") or {}
    where = f"{out / SAMPLES_DIR / SAMPLES_JSON}"
    head = ("<table><tr><th>corpus</th><th>cell</th><th>seed</th><th>generated</th>"
            "<th>metrics of the generated audio</th></tr>")
    groups = []
    for protocol, title in SAMPLE_PROTOCOLS.items():
        rows = [_sample_row(out, s, i, where) for i, s in enumerate(samples["samples"])
                if s.get("protocol", "dev") == protocol]
        if rows:
            groups.append(f"<h3>{_e(title)}</h3>{head}{''.join(rows)}</table>")
    dev_rows = "".join(
        f"<tr><td>{_e(c)}</td><td>{_metrics_table(m)}</td></tr>" for c, m in sorted(dev.items()))
    settings = samples.get("settings") or {}
    note = ""
    if settings:
        note = (f"<p class=small>Seeds: {_e(settings.get('seed_blocks'))} blocks; generated to "
                f"{_e(settings.get('times'))}× the seed ({_e(settings.get('method', ''))} "
                f"generation). Metrics of the generated audio are measured on the blocks after "
                f"the seed; the generated file holds the first pass's predictions of the seed "
                f"followed by the new blocks. Each picture is the seed's spectrogram, then the "
                f"generation's, the seed's end dashed; a sample is a near-copy when at least "
                f"half its new blocks are within 5 % of a training block.</p>")
    return (note + "".join(groups)
            + ("<h3>Real dev audio (reference)</h3><table><tr><th>corpus</th><th>metrics</th>"
               "</tr>" + dev_rows + "</table>" if dev_rows else ""))


def _claims_section(out: Path, claims: Sequence[Mapping]) -> str:
    rows = []
    for c in claims:
        cls = c["verdict"].replace(" ", "-")
        gates = "".join(f"<li class=gate>{_mark(k['passed'])} {_e(k['check'])}</li>"
                        for k in c.get("gates", []))
        checks = "".join(f"<li>{_mark(k['passed'])} {_e(k['check'])}</li>" for k in c["checks"])
        figs = ", ".join(_rel_link(out, f, Path(f).stem) for f in c["figures"])
        reason = f"<br><span class=small>{_e(c['reason'])}</span>" if c.get("reason") else ""
        family = c.get("family", "")
        rows.append(
            f'<tr id="{_e(c["id"])}-{_e(family)}"><td><b>{_e(c["id"])}</b></td>'
            f'<td>{_e(c["claim"])}<br><span class=small>Paper: “{_e(c["paper"])}”</span></td>'
            f'<td>{_e(c.get("family_label", ""))}</td>'
            f'<td class="verdict {cls}">{_e(c["verdict"])}{reason}</td>'
            f'<td><ul class=checks>{gates}{checks}</ul><span class=small>{figs}</span></td>'
            f'<td class=rule>{_e(c["rule"].replace(TALLY_RULE, "").strip())}</td></tr>')
    found = "".join(f"<li>{_e(f)}</li>" for f in findings(claims))
    found = f"<p><b>Findings</b></p><ul>{found}</ul>" if found else ""
    return (f"<p>Each verdict is computed from the data by the rule beside it. {_e(TALLY_RULE)} "
            "Each claim is judged separately for the authors' cells (Keras 0.1's LSTM and GRU, "
            "what produced the paper's numbers) and for today's cells (Keras 3's).</p>"
            f"{found}<table><tr><th></th><th>claim</th><th>cells</th><th>verdict</th>"
            "<th>measured (gates first; ✔ passed, ✘ failed, ? undecided)</th>"
            "<th>rule (checks)</th></tr>" + "".join(rows) + "</table>")


def _baselines_section(baselines: Mapping | None) -> str:
    if not baselines:
        return ("<p>No <code>baselines.json</code>: the loss-based claims are not gated on "
                "what a trivial predictor gets.</p>")
    rows = "".join(
        f"<tr><td>{_e(corpus)}</td><td>{split}</td>" + "".join(
            f"<td>{_e(_fmt(((baselines[corpus] or {}).get(split) or {}).get(k)))}</td>"
            for k in ("mean", "persistence", "linear")) + "</tr>"
        for corpus in sorted(baselines) for split in ("train", "dev"))
    return ("<p>What trivial predictors get on exactly the blocks the models' losses use "
            "(normalised MSE): the training mean, persistence (the next block equals this one) "
            "and the best per-feature linear persistence. A loss near these means the model "
            "learned nothing; the figures draw the mean predictor's level.</p><table><tr>"
            "<th>corpus</th><th>split</th><th>mean predictor</th><th>persistence</th>"
            f"<th>linear persistence</th></tr>{rows}</table>")


def _about_section(out: Path, repro: Mapping | None) -> str:
    if not repro:
        return ("<p>No <code>reproduction.json</code>: the scripts were run one by one, not "
                "through <code>experiments/reproduce.py</code>.</p>")
    host = repro.get("host") or {}
    stages = repro.get("stages") or []
    stage_rows = "".join(
        f"<tr><td>{_e(s.get('name'))}</td><td>{_e(s.get('status'))}</td>"
        f"<td>{_e(_fmt(s.get('seconds'), '.0f'))} s</td>"
        f"<td>{_e(_fmt(s.get('done_seconds'), '.0f'))}</td>"
        f"<td>{_e(_fmt(_mib(s.get('peak_rss_bytes')), '.0f'))}</td>"
        f"<td>{_e(_fmt(_mib(s.get('peak_device_bytes')), '.0f'))}</td></tr>" for s in stages)
    total = repro.get("total_seconds")
    parts = [
        "<table>",
        f"<tr><th>profile</th><td>{_e(repro.get('profile'))} "
        f"<span class=small>({_e(repro.get('profile_reason', ''))})</span></td></tr>",
        (f"<tr><th>dry run</th><td><b>{_e(DRY_RUN_BANNER)}</b>: "
         f"<code>{_e(describe_dry_run(repro.get(DRY_RUN)))}</code></td></tr>"
         if repro.get(DRY_RUN) else ""),
        f"<tr><th>started / finished</th><td>{_e(repro.get('started'))} / "
        f"{_e(repro.get('finished'))}</td></tr>",
        f"<tr><th>total time</th><td>{_e(_fmt(total, '.0f'))} s "
        f"({_e(_fmt(None if total is None else total / 60, '.1f'))} min)</td></tr>",
        f"<tr><th>machine</th><td>{_e(host.get('platform'))}; {_e(host.get('cpu_count'))} CPU "
        f"cores; {_e(host.get('processor', ''))}</td></tr>",
        f"<tr><th>Keras backend</th><td>{_e(host.get('backend'))} "
        f"{_e(host.get('backend_version', ''))}; devices: "
        f"{_e(', '.join(host.get('devices') or []))}</td></tr>",
        "</table>",
    ]
    if stage_rows:
        parts.append("<table><tr><th>stage</th><th>status</th><th>time (this run)</th>"
                     "<th>time when it was done (s)</th><th>peak memory (MiB, this run)</th>"
                     "<th>peak device memory (MiB)</th></tr>"
                     + stage_rows + "</table>")
    settings = repro.get("settings_toml")
    if settings:
        parts.append(f"<details><summary>Profile settings ({_e(repro.get('config', ''))})"
                     f"</summary><pre>{_e(settings)}</pre></details>")
    return "".join(parts)


def _mib(nbytes) -> float | None:
    return None if nbytes is None else nbytes / 2**20


def _data_links(out: Path) -> str:
    names = [CLAIMS_MD, CLAIMS_JSON, REPRODUCTION_JSON, f"{SAMPLES_DIR}/{SAMPLES_JSON}"]
    fig = out / FIGURES_DIR
    if fig.is_dir():
        names += sorted(f"{FIGURES_DIR}/{p.name}" for p in fig.iterdir()
                        if p.suffix in (".csv", ".json", ".svg", ".npz") and
                        not p.name.startswith("."))
    items = "".join(f"<li>{_rel_link(out, n)}</li>" for n in names if (out / n).exists())
    return f"<ul>{items}</ul>"


def _by_family(claims: Sequence[Mapping]) -> list[tuple[str, list]]:
    labels = list(dict.fromkeys(c.get("family_label", "claims") for c in claims))
    return [(label, [c for c in claims if c.get("family_label", "claims") == label])
            for label in labels]


def render_page(out_dir, claims: Sequence[Mapping], data: Mapping) -> str:
    """The self-contained HTML page of a results folder.

    Relative links only (figures as ``figures/*.png``, audio as ``samples/*.wav``), no script,
    no network.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The results folder (links are checked against it; missing files are shown as such).
    claims : sequence of dict
        From :func:`compute_claims`.
    data : mapping
        From :func:`collect`.

    Returns
    -------
    str
        The HTML text.
    """
    out = Path(out_dir)
    repro = data.get("reproduction") or {}
    profile = repro.get("profile") or out.name
    figures = []
    for stem, caption in _figure_entries(out):
        base = f"{FIGURES_DIR}/{stem}"
        extras = " · ".join(_rel_link(out, f"{base}.{ext}", ext.upper())
                            for ext in ("svg", "csv", "json") if (out / f"{base}.{ext}").exists())
        figures.append(f'<figure id="{_e(stem)}"><img src="{_e(base)}.png" alt="{_e(caption)}">'
                       f"<figcaption>{_e(caption)} <span class=small>[{extras}]</span>"
                       f"</figcaption></figure>")
    summary = "; ".join(
        f"{label}: " + ", ".join(f"{sum(c['verdict'] == v for c in mine)} {v}" for v in VERDICTS)
        for label, mine in _by_family(claims))
    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    dry_run = data.get(DRY_RUN)
    banner = (f'<p class="dry-run" id="dry-run">{_e(DRY_RUN_BANNER)}</p>'
              f"<p><b>These results were made with <code>{_e(describe_dry_run(dry_run))}</code>"
              "</b>: the runs were capped to prove that the profile starts, checkpoints, "
              "generates and reports. Every claim is inconclusive; nothing here says anything "
              "about the paper.</p>" if dry_run else "")
    title = f"{DRY_RUN_BANNER.upper()} — " if dry_run else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}gruvsynth reproduction of GRUV — profile {_e(profile)}</title>
<style>{_CSS}</style></head>
<body>
{banner}
<h1>Reproducing GRUV (Nayebi &amp; Vitelli, 2015) — profile <code>{_e(profile)}</code></h1>
<p>LSTM vs GRU networks that generate music from raw audio (FFT blocks of 0.25 s), on two
stand-in corpora: <b>wesnoth</b> (orchestral, recorded; for the paper's David Bowie set) and
<b>warzone2100</b> (electronic; for Madeon). Claims: {_e(summary)}.
<span class=small>Page written {_e(now)} by <code>gruvsynth report</code>.</span></p>
<p><a href="#claims">Claims</a> · <a href="#figures">Figures</a> · <a href="#samples">Audio
samples</a> · <a href="#about">Run</a> · <a href="#data">Data files</a></p>
<h2 id="claims">Claims</h2>
{_claims_section(out, claims)}
<h3 id="baselines">Trivial-predictor baselines</h3>
{_baselines_section(data.get("baselines"))}
<h2 id="figures">Figures</h2>
{"".join(figures) or "<p>No figures yet.</p>"}
<h2 id="samples">Audio samples</h2>
{_samples_section(out, data.get("samples"))}
<h2 id="about">The run</h2>
{_about_section(out, repro)}
<h2 id="data">Data files</h2>
{_data_links(out)}
</body></html>
"""


_RAW_KEYS = ("fig1", "fig2", "fig3", "samples", "generation_length", "depth", "reproduction")
_DATA_FILES = (f"{FIGURES_DIR}/*.json", f"{SAMPLES_DIR}/{SAMPLES_JSON}", REPRODUCTION_JSON)


def build_report(out_dir) -> dict:
    """Compute the claims of a results folder and write ``claims.md``, ``claims.json`` and
    ``index.html`` into it.

    Parameters
    ----------
    out_dir : str or os.PathLike
        A results folder written by the experiment scripts.

    Returns
    -------
    dict
        ``claims`` (the rows), ``claims_md``, ``claims_json`` and ``page`` (paths).

    Raises
    ------
    GruvError
        The folder does not exist or is a file, one of its JSON files is unreadable or of
        the wrong shape, or it holds none of the data files (nothing to judge).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GruvError(f"{out}: is a file, not a results folder (give the folder the "
                        "experiment scripts wrote, e.g. results/quick)")
    if not out.is_dir():
        raise GruvError(f"{out}: no such results folder")
    data = collect(out)
    if all(data[key] is None for key in _RAW_KEYS):
        raise GruvError(
            f"{out}: no results data found (none of {', '.join(_DATA_FILES)}); run the "
            "experiment scripts (experiments/reproduce.py) into it first")
    claims = compute_claims(data)
    profile = (data.get("reproduction") or {}).get("profile") or out.name
    md = write_text(out / CLAIMS_MD, claims_markdown(
        claims, title=f"Claims of the paper — profile {profile}",
        baselines=data.get("baselines"), dry_run=data.get(DRY_RUN)))
    js = write_json(out / CLAIMS_JSON, {"profile": profile, DRY_RUN: data.get(DRY_RUN),
                                        "claims": claims,
                                        "baselines": data.get("baselines") or {},
                                        "findings": findings(claims),
                                        "verdicts": list(VERDICTS), "tally_rule": TALLY_RULE,
                                        "gate_rule": GATE_RULE})
    page = write_text(out / PAGE, render_page(out, claims, data))
    return {"claims": claims, "claims_md": md, "claims_json": js, "page": page}


# --------------------------------------------------------------------------------------------
# The browser check
# --------------------------------------------------------------------------------------------

#: Chromium flags for a quiet, offline, throw-away headless session.
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--mute-audio",
                 "--hide-scrollbars")
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_PROBE_ID = "gruvsynth-page-check"
_PROBE = """
<pre id="%(id)s">pending</pre>
<script>
(function () {
  function done() {
    var imgs = Array.prototype.map.call(document.images, function (i) {
      return {src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
              width: i.naturalWidth};
    });
    var auds = Array.prototype.map.call(document.querySelectorAll('audio'), function (a) {
      return {src: a.getAttribute('src'), readyState: a.readyState,
              error: a.error ? a.error.code : null,
              duration: isFinite(a.duration) ? a.duration : null};
    });
    document.getElementById('%(id)s').textContent = JSON.stringify(
      {images: imgs, audio: auds, height: document.documentElement.scrollHeight});
  }
  function wait(el, events) {
    return new Promise(function (resolve) {
      events.forEach(function (e) { el.addEventListener(e, resolve, {once: true}); });
    });
  }
  var pending = [];
  Array.prototype.forEach.call(document.querySelectorAll('audio'), function (a) {
    a.preload = 'auto';
    if (a.readyState < 1 && !a.error) { pending.push(wait(a, ['loadedmetadata', 'error'])); a.load(); }
  });
  Array.prototype.forEach.call(document.images, function (i) {
    if (!i.complete) pending.push(wait(i, ['load', 'error']));
  });
  var timeout = new Promise(function (resolve) { setTimeout(resolve, %(timeout_ms)d); });
  Promise.race([Promise.all(pending), timeout]).then(done);
})();
</script>
"""


def find_browser() -> str | None:
    """The path of a Chromium (or Chrome) executable on ``PATH``, or ``None``."""
    env = os.environ.get("GRUVSYNTH_BROWSER")
    if env:
        return env
    for name in _BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _static_links(page: Path, text: str) -> list[str]:
    """Problems with the page's links: absolute URLs (network) and missing local files."""
    problems = []
    for attr, target in re.findall(r'\b(src|href)="([^"]*)"', text):
        target = html.unescape(target)
        if target.startswith("#") or not target:
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            problems.append(f"{attr}={target!r} is not a relative link")
            continue
        local = page.parent / target.split("#")[0]
        if not local.exists():
            problems.append(f"{attr}={target!r}: no such file")
    return problems


def _run_browser(exe: str, args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="gruvsynth-chromium-")
    try:
        try:
            return subprocess.run([exe, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args],
                                  capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"{exe}: no answer within {timeout:g} s") from None
        except OSError as exc:
            raise BrowserError(f"{exe}: cannot run the browser ({exc})") from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def check_page(page, *, screenshot=None, browser: str | None = None, timeout: float = 120.0,
               width: int = 1280, max_height: int = 12000) -> dict:
    """Open a page in headless Chromium and check that every image and audio element loaded.

    A copy of the page with a small probe script is written beside it (so relative links
    resolve the same) and loaded with ``--dump-dom``; the probe waits for every ``<img>`` and
    ``<audio>`` and writes their state into the DOM.  An image passes when it is complete with
    ``naturalWidth > 0``; an audio element when it has no error and ``readyState >= 1`` (its
    metadata loaded).  The page's links are also checked: all relative, all to existing files.

    Parameters
    ----------
    page : str or os.PathLike
        The HTML file.
    screenshot : str or os.PathLike, optional
        Where to save a PNG screenshot of the whole page (up to ``max_height`` pixels).
    browser : str, optional
        The Chromium executable (default :func:`find_browser`).
    timeout : float
        Seconds allowed for each browser run.
    width, max_height : int
        Screenshot size in pixels.

    Returns
    -------
    dict
        ``ok`` (bool), ``problems`` (list of str), ``images`` and ``audio`` (per element: its
        ``src`` and state), ``screenshot`` (path or ``None``).

    Raises
    ------
    BrowserError
        No browser found, or it failed or gave no result.
    """
    page = Path(page).resolve()
    if not page.is_file():
        raise GruvError(f"{page}: no such page")
    exe = browser or find_browser()
    if exe is None:
        raise BrowserError("no Chromium found (install Debian's `chromium` package, or set "
                           "GRUVSYNTH_BROWSER to a Chrome/Chromium executable)")
    text = page.read_text(encoding="utf-8")
    problems = _static_links(page, text)
    probe_ms = int(max(5.0, timeout / 3) * 1000)
    probe_html = _PROBE % {"id": _PROBE_ID, "timeout_ms": probe_ms}
    probed = text.replace("</body>", probe_html + "</body>") if "</body>" in text \
        else text + probe_html
    probe = page.with_name(f".{page.stem}.check-{os.getpid()}.html")
    try:
        probe.write_text(probed, encoding="utf-8")
        done = _run_browser(exe, [f"--virtual-time-budget={probe_ms + 5000}", "--dump-dom",
                                  probe.as_uri()], timeout=timeout)
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()
    match = re.search(rf'<pre id="{_PROBE_ID}">(.*?)</pre>', done.stdout, re.S)
    if match is None:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise BrowserError(f"{exe}: the page check gave no result (exit {done.returncode}; "
                           f"{tail[0][:200]})")
    raw = html.unescape(match.group(1))
    if raw == "pending":
        raise BrowserError(f"{page}: the page check did not finish in the browser")
    state = json.loads(raw)
    for img in state["images"]:
        if not img["loaded"]:
            problems.append(f"image {img['src']!r} did not load")
    for a in state["audio"]:
        if a["error"] is not None or a["readyState"] < 1:
            problems.append(f"audio {a['src']!r} cannot be played (readyState {a['readyState']}, "
                            f"error {a['error']})")
    shot = None
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        height = int(min(max(int(state.get("height") or 2000), 600), max_height))
        tmp = shot.with_name(f".{shot.stem}.tmp-{os.getpid()}.png")
        try:
            _run_browser(exe, [f"--screenshot={tmp}", f"--window-size={width},{height}",
                               page.as_uri()], timeout=timeout)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise BrowserError(f"{exe}: no screenshot written")
            os.replace(tmp, shot)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return {"ok": not problems, "problems": problems, "images": state["images"],
            "audio": state["audio"], "screenshot": None if shot is None else os.fspath(shot)}
