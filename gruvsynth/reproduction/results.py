"""The layout of a results folder, the shapes of its JSON files, and reading it.

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
    baselines.json                                   the trivial predictors' losses per corpus
    runs/ ...                                        the training runs (gruvsynth.training)

:func:`collect` reads the JSON files (each checked against its shape in :data:`SCHEMAS`) into
the inputs of the seven claim rules;
:func:`families_in` and :func:`family_data` split those inputs by cell family;
:func:`dry_run_in` finds a dry run's overrides; :func:`safe_link` checks a link read from a
results file before the page uses it.

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

import math
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from gruvsynth import defaults
from gruvsynth.defaults import CELL_FAMILIES
from gruvsynth.errors import GruvError
from gruvsynth.fileio import read_json
from gruvsynth.reproduction.measures import final_value

__all__ = [
    "FIGURES_DIR",
    "SAMPLES_DIR",
    "RUNS_DIR",
    "FIG1",
    "FIG2",
    "FIG3",
    "GENERATED_AUDIO",
    "GENERATION_LENGTH",
    "DEPTH",
    "SAMPLES_JSON",
    "REPRODUCTION_JSON",
    "BASELINES_JSON",
    "CLAIMS_MD",
    "CLAIMS_JSON",
    "PAGE",
    "SCREENSHOT",
    "RAW_KEYS",
    "DATA_FILES",
    "VARIED_CORPUS",
    "ELECTRONIC_CORPUS",
    "LSTM",
    "GRU",
    "DRY_RUN",
    "DRY_RUN_BANNER",
    "FAMILY_ORDER",
    "DEFAULT_FAMILIES",
    "CELL_ROLES",
    "NUMBER",
    "STRING",
    "INTEGER",
    "ANY",
    "SCHEMAS",
    "check_shape",
    "safe_link",
    "collect",
    "dry_run_in",
    "describe_dry_run",
    "families_in",
    "family_data",
]

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
#: The results file with every corpus's trivial-predictor losses (experiments write it).
BASELINES_JSON = "baselines.json"
CLAIMS_MD = "claims.md"
CLAIMS_JSON = "claims.json"
PAGE = "index.html"
SCREENSHOT = "screenshot.png"
#: :func:`collect`'s keys for the raw results files.
RAW_KEYS = ("fig1", "fig2", "fig3", "samples", "generation_length", "depth", "reproduction")
#: The data files a results folder must have at least one of (for messages).
DATA_FILES = (f"{FIGURES_DIR}/*.json", f"{SAMPLES_DIR}/{SAMPLES_JSON}", REPRODUCTION_JSON)

#: The stand-ins: the varied, recorded corpus (for David Bowie) and the electronic one (Madeon).
VARIED_CORPUS = "wesnoth"
ELECTRONIC_CORPUS = "warzone2100"
#: The two cells the paper compares.
LSTM, GRU = "lstm", "gru"
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
    data = read_json(path, "results file", missing_ok=True)
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
# Gathering a results folder
# --------------------------------------------------------------------------------------------


def _runs(data) -> list[dict]:
    return list((data or {}).get("runs") or [])


def _read_raw(out: Path) -> dict:
    """The results files of a folder, parsed and checked (``None`` where missing)."""
    fig = out / FIGURES_DIR
    return {
        "fig1": _read_results(fig / f"{FIG1}.json", FIG1),
        "fig2": _read_results(fig / f"{FIG2}.json", FIG2),
        "fig3": _read_results(fig / f"{FIG3}.json", FIG3),
        "samples": _read_results(out / SAMPLES_DIR / SAMPLES_JSON, SAMPLES_JSON),
        "generation_length": _read_results(fig / f"{GENERATION_LENGTH}.json",
                                           GENERATION_LENGTH),
        "depth": _read_results(fig / f"{DEPTH}.json", DEPTH),
        "reproduction": _read_results(out / REPRODUCTION_JSON, REPRODUCTION_JSON),
    }


def _loss_inputs(raw: Mapping) -> dict:
    """C1/C2, C3 and C7's inputs: each configuration's replicates (one run per seed)."""
    c1: dict = {}
    for r in _runs(raw["fig1"]):
        c1.setdefault(r["corpus"], {}).setdefault(r["cell"], []).append(r.get("history") or [])
    c3: dict = {}
    c3_train: dict = {}
    for r in _runs(raw["fig2"]):
        name = f"{r['corpus']} {r['cell']}"
        c3.setdefault(name, {}).setdefault(int(r["hidden"]), []).append(
            final_value(r.get("history") or [], "dev_loss"))
        c3_train.setdefault(name, {}).setdefault(int(r["hidden"]), []).append(
            r.get("history") or [])
    c7: dict = {}
    for r in _runs(raw["depth"]):
        c7.setdefault(f"{r['corpus']} {r['cell']}", {}).setdefault(int(r["layers"]), []).append(
            r.get("history") or [])
    return {"c1": c1, "c2": c1, "c3": c3, "c3_train": c3_train, "c7": c7}


def _sample_inputs(samples: Mapping) -> dict:
    """C4's input: per corpus the dev audio, the calibration and each cell's mean metrics
    with every sample's noise verdict (training seeds judged, dev seeds reported)."""
    c4: dict = {}
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
    return c4


def _band_inputs(fig3: Mapping | None) -> tuple[dict, tuple]:
    """C5's input (``{corpus: {"truth"|cell: share or the seeds' shares}}``) and the band."""
    c5: dict = {}
    band = defaults.BAND
    if fig3:
        band = tuple(fig3.get("band_hz") or band)
        for corpus, entry in (fig3.get("corpora") or {}).items():
            row = {"truth": (entry.get("truth") or {}).get("outside_band")}
            for cell, m in (entry.get("cells") or {}).items():
                row[cell] = m.get("outside_band_seeds") or m.get("outside_band")
            c5[corpus] = row
    return c5, band


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
        final dev loss}}``), ``c3_train`` (the same runs' histories), ``c4`` (``{corpus:
        {"dev"|"calibration"|cell: ...}}``: each cell's mean metrics with
        ``noise_like_samples``, every sample's verdict), ``c5`` (``{corpus: {"truth"|cell:
        share}}``), ``c6`` (rows), ``c7`` (``{"<corpus> <cell>": {layers: history}}``),
        ``band``, ``baselines`` (``{corpus: {split: {"mean", "persistence", "linear"}}}``
        from ``baselines.json``, or None) and the raw files (``fig1``, ``fig2``, ``fig3``,
        ``samples``, ``generation_length``, ``depth``, ``reproduction``; ``None`` where
        missing).
    """
    out = Path(out_dir)
    raw = _read_raw(out)
    losses = _loss_inputs(raw)
    c4 = _sample_inputs(raw["samples"] or {})
    c5, band = _band_inputs(raw["fig3"])
    c6 = list((raw["generation_length"] or {}).get("rows") or [])
    baselines = _read_results(out / BASELINES_JSON, BASELINES_JSON)
    return {"c1": losses["c1"], "c2": losses["c2"], "c3": losses["c3"],
            "c3_train": losses["c3_train"], "c4": c4, "c5": c5, "c6": c6,
            "c7": losses["c7"], "band": band, "baselines": (baselines or {}).get("corpora"),
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
    for key in ("reproduction", *(k for k in RAW_KEYS if k != "reproduction")):
        found = (raw.get(key) or {}).get(DRY_RUN)
        if found:
            return dict(found)
    return None


def describe_dry_run(dry_run: Mapping | None) -> str:
    """The options of a dry run as given on the command line, e.g. ``--max-epochs 1 --songs 2``.

    Parameters
    ----------
    dry_run : mapping or None
        ``{"max_epochs", "songs"}``.

    Returns
    -------
    str
        Empty for a full run.
    """
    if not dry_run:
        return ""
    parts = [f"--max-epochs {dry_run['max_epochs']}" if dry_run.get("max_epochs") else "",
             f"--songs {dry_run['songs']}" if dry_run.get("songs") else ""]
    return " ".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------
# Cell families
# --------------------------------------------------------------------------------------------


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
