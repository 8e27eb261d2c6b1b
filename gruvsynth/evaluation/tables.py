"""Plain-text tables of the evaluation's results: :func:`format_table` (a run,
:func:`~gruvsynth.evaluation.evaluate_run`) and :func:`format_audio_table` (audio files,
:func:`~gruvsynth.evaluation.evaluate_audio`).
"""

from __future__ import annotations

import math

from gruvsynth import noise
from gruvsynth.evaluation.baselines import BASELINES
from gruvsynth.evaluation.metrics import BAND

__all__ = ["AUDIO_ROWS", "format_value", "format_table", "format_audio_table"]

#: The per-file metrics of :func:`evaluate_audio`: key, label, format.
AUDIO_ROWS = (
    ("verdict", "noise-likeness", "s"),
    ("noise_distance", "noise distance", ".3g"),
    ("rms_dbfs", "RMS (dBFS)", ".1f"),
    ("flatness", "spectral flatness", ".3g"),
    ("outside_band", "energy outside 4-7 kHz", ".3f"),
    ("log_spectral_distance_db", "distance to dev spectrum (dB)", ".2f"),
    ("shape_distance_db", "  the same, level matched (dB)", ".2f"),
    ("rms", "RMS", ".4g"),
    ("clipped_share", "clipped share", ".4f"),
)


def format_value(value, spec: str = ".4g") -> str:
    """``value`` formatted with ``spec``; ``"-"`` for None and non-finite numbers."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, spec)


def _baseline_lines(results: dict) -> list[str]:
    baselines = results.get("baselines") or {}
    if not baselines:
        return []
    losses = {"train": results.get("train_loss"), "dev": results.get("dev_loss")}
    head = f"{'loss (MSE)':12} {'model':>9} {'mean':>9} {'persist.':>9} {'linear':>9} {'skill':>8}"
    lines = ["", head, "-" * len(head)]
    for split in ("train", "dev"):
        b = baselines.get(split) or {}
        lines.append(f"{split:12} {format_value(losses[split]):>9} " + " ".join(
            f"{format_value(b.get(k)):>9}" for k in BASELINES)
            + f" {format_value((results.get('skill') or {}).get(split), '.3f'):>8}")
    lines.append("(baselines: the training mean, persistence (next = this block), the best "
                 "per-feature linear persistence; skill = 1 - model / best baseline: 0 means "
                 "the model does no better than a trivial predictor)")
    return lines


def format_table(results: dict) -> str:
    """A short plain-text table of :func:`evaluate_run`'s results.

    Parameters
    ----------
    results : dict

    Returns
    -------
    str
    """
    lines = [f"run: {results.get('run')}  (checkpoint {results.get('checkpoint')}, "
             f"cell {results.get('cell')}, hidden {results.get('hidden')})",
             f"dev loss (MSE): {format_value(results.get('dev_loss'))} over "
             f"{results.get('n_dev_clips')} dev clips"]
    lines += _baseline_lines(results)
    fig = results.get("figure3") or {}
    band = results.get("band_hz") or list(BAND)
    band_txt = f"{band[0] / 1000:g}-{band[1] / 1000:g} kHz"
    lines.append(f"Figure 3 mean spectra: energy outside {band_txt}: true "
                 f"{format_value(fig.get('outside_band_true'), '.3f')}, predicted "
                 f"{format_value(fig.get('outside_band_pred'), '.3f')}; distance "
                 f"{format_value(fig.get('log_spectral_distance_db'), '.2f')} dB  ({fig.get('path')})")
    dev = results.get("dev_audio") or {}
    gen = (results.get("generated") or {}).get("mean")
    rows = [
        ("spectral flatness", "spectral_flatness", ".3f"),
        (f"energy outside {band_txt}", "outside_band", ".3f"),
        ("distance to dev spectrum (dB)", "log_spectral_distance_db", ".2f"),
        ("  the same, level matched (dB)", "shape_distance_db", ".2f"),
        ("RMS", "rms", ".4f"),
        ("clipped share", "clipped_share", ".4f"),
        ("noise distance", "noise_distance", ".3g"),
        ("share of samples noise-like", "noise_like", ".2f"),
    ]
    calibration = results.get("noise_calibration")
    if calibration:
        music = ((calibration.get("anchors") or {}).get("music") or {}).get("score")
        dev = {**dev, "noise_distance": music}
    head = f"{'metric':32} {'dev audio':>10} {'generated':>10}"
    lines += ["", head, "-" * len(head)]
    for label, key, spec in rows:
        lines.append(f"{label:32} {format_value(dev.get(key), spec):>10} "
                     f"{format_value(gen.get(key) if gen else None, spec):>10}")
    if gen:
        lines += [
            f"{'loop-free length (x seed)':32} {'':>10} {format_value(gen.get('loop_free_times'), '.2f'):>10}",
            f"{'share of samples that loop':32} {'':>10} {format_value(gen.get('looped'), '.2f'):>10}",
            f"{'nearest-training distance':32} {'':>10} "
            f"{format_value(gen.get('novelty_median_distance'), '.3f'):>10}",
            f"{'near-copy share':32} {'':>10} {format_value(gen.get('near_copy_share'), '.3f'):>10}",
        ]
        n = len(results["generated"].get("samples", []))
        s = results["generated"].get("settings", {})
        lines.append(f"(generated: {n} sample(s), seed {s.get('seed_blocks')} blocks + "
                     f"{s.get('iterations')} iterations, {s.get('method')}; audio metrics on "
                     "the blocks after the seed)")
    if calibration:
        lines += ["", noise.format_calibration(calibration)]
    return "\n".join(lines)


def format_audio_table(results: dict) -> str:
    """A plain-text table of :func:`evaluate_audio`'s results: one column per file.

    Parameters
    ----------
    results : dict

    Returns
    -------
    str
    """
    files = results.get("files") or []
    dev = results.get("dev_audio") or {}
    heads = ["dev audio"] + [f"[{i + 1}]" for i in range(len(files))]
    table = []
    for key, label, spec in AUDIO_ROWS:
        cells = [dev.get(key) if key != "verdict" else None] + [f.get(key) for f in files]
        table.append((label, ["-" if v is None else (str(v) if spec == "s" else format_value(v, spec))
                              for v in cells]))
    width = 2 + max(len(t) for _, row in table for t in [*row, *heads])
    lines = [f"{'metric':32}" + "".join(f"{h:>{width}}" for h in heads)]
    lines.append("-" * len(lines[0]))
    lines += [f"{label:32}" + "".join(f"{t:>{width}}" for t in row) for label, row in table]
    lines.append("")
    lines += [f"[{i + 1}] {f['file']} ({f['seconds']:.1f} s)" for i, f in enumerate(files)]
    lines += ["", noise.format_calibration(results.get("calibration") or {})]
    return "\n".join(lines)
