"""The reproduction's figures: loss curves, dev loss against hidden size, mean spectrograms.

Every plot function draws on a matplotlib ``Axes`` given as ``ax=`` (or on a new figure's only
axes when ``ax`` is ``None``), labels the axes with their units, and returns what it drew (the
artist, or a tuple of artists).  Figures are made with :func:`new_figure`, which uses
``matplotlib.figure.Figure`` and the Agg canvas directly: nothing here touches ``pyplot`` or its
global state, so the functions are safe in scripts, tests and threads.  :func:`save_figure`
writes PNG and SVG files atomically.

Titles are left to the caller, who knows the corpus, cell and hidden size (the experiment
scripts in ``experiments/`` name them in every title).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from gruvsynth import defaults
from gruvsynth.defaults import CELL_LABELS
from gruvsynth.errors import ParameterError
from gruvsynth.fileio import atomic_path

__all__ = [
    "BAND",
    "CELL_COLORS",
    "CELL_LABELS",
    "cell_label",
    "plot_baseline",
    "plot_loss_band",
    "replicate_history",
    "FORMATS",
    "new_figure",
    "save_figure",
    "plot_loss_curves",
    "plot_hidden_sizes",
    "plot_spectrogram",
    "plot_spectra",
    "plot_against_length",
    "plot_bars",
    "to_db",
]

#: The band of the paper's Figure 3 remark (Hz): GRU activations "outside of the band range
#: of 4000 - 7000" (:data:`gruvsynth.defaults.BAND`).
BAND = defaults.BAND
#: File formats :func:`save_figure` writes by default.
FORMATS = ("png", "svg")
#: Colours used for each cell across the figures (others get matplotlib's cycle).
CELL_COLORS = {"lstm": "tab:blue", "gru": "tab:red", "keras01_lstm": "tab:purple",
               "keras01_gru": "tab:brown", "peephole_lstm": "tab:cyan",
               "paper_gru": "tab:orange", "truth": "black"}

#: Label of the loss axis: the mean squared error of normalised features (paper eq. 1).
LOSS_LABEL = "MSE loss (normalised features, unitless)"


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 6.4, height: float = 4.8,
               squeeze: bool = True, **subplot_kw):
    """A new figure with a grid of axes, drawn by the Agg canvas (no pyplot).

    Parameters
    ----------
    nrows, ncols : int
        The grid of axes.
    width, height : float
        Figure size in inches.
    squeeze : bool
        As for ``Figure.subplots``: a single axes is returned as itself.
    **subplot_kw
        Passed to ``Figure.subplots`` (e.g. ``sharex=True``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : matplotlib.axes.Axes or np.ndarray of Axes
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = new_figure()
    return ax


def save_figure(fig: Figure, path, *, formats: Sequence[str] = FORMATS,
                dpi: int = 110) -> list[Path]:
    """Write a figure as ``path.<format>`` for each format, each file atomically
    (:func:`gruvsynth.fileio.atomic_path`; the folder is created if missing).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        The file name without extension (an extension given is replaced).
    formats : sequence of str
        File formats (default PNG and SVG).
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    paths : list of pathlib.Path
        The files written, in the order of ``formats``.
    """
    path = Path(path)
    if path.suffix.lstrip(".") in ("png", "svg", "pdf", "jpg"):
        path = path.with_suffix("")
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    out = []
    for fmt in formats:
        target = path.with_name(f"{path.name}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_metadata(fmt))
        out.append(target)
    return out


def _metadata(fmt: str) -> dict:
    # No creation dates: the same data gives the same SVG bytes.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": "gruvsynth (matplotlib)"}
    return {}


def _history_arrays(history) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epoch, loss, dev_loss) arrays from a list of dicts or a dict of sequences."""
    if isinstance(history, Mapping):
        epoch = np.asarray(history["epoch"], dtype=float)
        loss = np.asarray(history["loss"], dtype=float)
        dev = np.asarray(history.get("dev_loss", [np.nan] * len(epoch)), dtype=float)
    else:
        rows = list(history)
        epoch = np.array([r["epoch"] for r in rows], dtype=float)
        loss = np.array([np.nan if r.get("loss") is None else r["loss"] for r in rows],
                        dtype=float)
        dev = np.array([np.nan if r.get("dev_loss") is None else r["dev_loss"] for r in rows],
                       dtype=float)
    if not (epoch.shape == loss.shape == dev.shape):
        raise ParameterError("history: epoch, loss and dev_loss must have the same length")
    return epoch, loss, dev


def plot_loss_curves(history, *, ax=None, label: str | None = None, color=None,
                     train: bool = True, dev: bool = True, log: bool = True):
    """Training and dev loss per epoch of one run (the paper's Figure 1 style).

    The training loss is dashed, the dev loss solid, both in ``color``.

    Parameters
    ----------
    history : list of dict or dict of sequences
        Per epoch: ``epoch``, ``loss`` and ``dev_loss`` (``None``/NaN where not evaluated), as
        :attr:`gruvsynth.train.runs.Run.history`.
    ax : matplotlib.axes.Axes, optional
    label : str, optional
        Legend label; the lines are labelled ``"<label> train"`` and ``"<label> dev"``.
    color : optional
        Matplotlib colour of both lines.
    train, dev : bool
        Which curves to draw.
    log : bool
        Logarithmic loss axis.

    Returns
    -------
    lines : tuple of matplotlib.lines.Line2D
        ``(train_line, dev_line)``; an element is ``None`` when not drawn (or all NaN).
    """
    ax = _axes(ax)
    epoch, loss, dev_loss = _history_arrays(history)
    prefix = f"{label} " if label else ""
    train_line = dev_line = None
    if train and np.isfinite(loss).any():
        (train_line,) = ax.plot(epoch, loss, linestyle="--", color=color,
                                label=f"{prefix}train")
        color = train_line.get_color()
    keep = np.isfinite(dev_loss)
    if dev and keep.any():
        (dev_line,) = ax.plot(epoch[keep], dev_loss[keep], linestyle="-", color=color,
                              marker="." if keep.sum() < 30 else None, label=f"{prefix}dev")
    ax.set_xlabel("epoch")
    ax.set_ylabel(LOSS_LABEL)
    if log and (train_line is not None or dev_line is not None):
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:.3g}")  # 2.5, not 2.5 × 10⁰
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    ax.grid(True, which="major", alpha=0.3)
    return train_line, dev_line


def cell_label(cell: str) -> str:
    """A cell's legend label (:data:`CELL_LABELS`; other names upper-cased).

    Parameters
    ----------
    cell : str

    Returns
    -------
    str
    """
    return CELL_LABELS.get(cell, str(cell).upper())


def plot_baseline(level: float | None, *, ax=None, label: str = "mean predictor",
                  color="grey", linestyle: str = ":"):
    """A trivial predictor's loss as a labelled horizontal line (see
    :func:`gruvsynth.evaluation.baseline_losses`).

    Parameters
    ----------
    level : float or None
        The loss; nothing is drawn for None or a non-finite value.
    ax : matplotlib.axes.Axes, optional
    label : str
        Legend label.
    color, linestyle : optional

    Returns
    -------
    line : matplotlib.lines.Line2D or None
    """
    ax = _axes(ax)
    if level is None or not np.isfinite(level):
        return None
    return ax.axhline(float(level), color=color, linestyle=linestyle, linewidth=1.2,
                      label=f"{label} {float(level):.3g}")


def replicate_history(histories) -> dict:
    """The mean, minimum and maximum per epoch of several runs' histories (replicates).

    Parameters
    ----------
    histories : sequence of history
        Each as :func:`plot_loss_curves` takes; epochs present in every one are kept.

    Returns
    -------
    dict
        ``epoch`` (np.ndarray [shape=(n,)]) and, for ``loss`` and ``dev_loss``, the arrays
        ``<key>``, ``<key>_min``, ``<key>_max`` [shape=(n,)] (NaN where not evaluated).
    """
    arrays = [_history_arrays(h) for h in histories]
    if not arrays:
        raise ParameterError("replicate_history needs at least one history")
    common = sorted(set.intersection(*(set(a[0].tolist()) for a in arrays)))
    out: dict = {"epoch": np.asarray(common, dtype=float)}
    for k, key in ((1, "loss"), (2, "dev_loss")):
        stack = np.stack([[dict(zip(a[0].tolist(), a[k].tolist(), strict=True))[e]
                           for e in common] for a in arrays])
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs stay NaN
            out[key] = np.nanmean(stack, axis=0)
            out[f"{key}_min"] = np.nanmin(stack, axis=0)
            out[f"{key}_max"] = np.nanmax(stack, axis=0)
    return out


def plot_loss_band(histories, *, ax=None, label: str | None = None, color=None,
                   log: bool = True, alpha: float = 0.2):
    """The mean training (dashed) and dev (solid) loss of replicates, with their min–max band.

    Parameters
    ----------
    histories : sequence of history
        The replicates' histories (one seed each).
    ax : matplotlib.axes.Axes, optional
    label : str, optional
        Legend label; ``" (n seeds)"`` is added.
    color : optional
    log : bool
        Logarithmic loss axis.
    alpha : float
        Opacity of the bands.

    Returns
    -------
    lines : tuple of matplotlib.lines.Line2D
        The mean lines ``(train_line, dev_line)``, as :func:`plot_loss_curves`.
    """
    ax = _axes(ax)
    histories = list(histories)
    band = replicate_history(histories)
    n = len(histories)
    mean = {"epoch": band["epoch"], "loss": band["loss"], "dev_loss": band["dev_loss"]}
    text = f"{label} ({n} seed{'s' if n != 1 else ''})" if label else None
    train_line, dev_line = plot_loss_curves(mean, ax=ax, label=text, color=color, log=log)
    for line, key in ((train_line, "loss"), (dev_line, "dev_loss")):
        keep = np.isfinite(band[f"{key}_min"])
        if line is not None and n > 1 and keep.any():
            ax.fill_between(band["epoch"][keep], band[f"{key}_min"][keep],
                            band[f"{key}_max"][keep], color=line.get_color(), alpha=alpha,
                            linewidth=0)
    return train_line, dev_line


def plot_hidden_sizes(hidden: Sequence[int], loss: Sequence[float], *, ax=None,
                      label: str | None = None, color=None, linestyle: str = "-",
                      marker: str = "o", low: Sequence[float] | None = None,
                      high: Sequence[float] | None = None, alpha: float = 0.2):
    """Dev loss against hidden size (the paper's Figure 2), on a log2 size axis.

    Parameters
    ----------
    hidden : sequence of int [shape=(n,)]
        Hidden sizes (units).
    loss : sequence of float [shape=(n,)]
        The loss at each size (e.g. the final dev loss).
    ax : matplotlib.axes.Axes, optional
    label : str, optional
    color : optional
    linestyle, marker : str
    low, high : sequence of float [shape=(n,)], optional
        The replicates' minimum and maximum at each size, drawn as a band.
    alpha : float
        Opacity of the band.

    Returns
    -------
    line : matplotlib.lines.Line2D
    """
    ax = _axes(ax)
    h = np.asarray(hidden, dtype=float)
    y = np.asarray(loss, dtype=float)
    if h.shape != y.shape or h.ndim != 1:
        raise ParameterError(f"hidden and loss must be 1-D of one length, got {h.shape}, {y.shape}")
    order = np.argsort(h)
    (line,) = ax.plot(h[order], y[order], linestyle=linestyle, marker=marker, color=color,
                      label=label)
    if low is not None and high is not None:
        lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        if lo.shape != h.shape or hi.shape != h.shape:
            raise ParameterError("low and high must have the shape of hidden")
        ax.fill_between(h[order], lo[order], hi[order], color=line.get_color(), alpha=alpha,
                        linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(h[order])
    ax.set_xticklabels([f"{int(v)}" for v in h[order]])
    ax.minorticks_off()
    ax.set_xlabel("hidden size (units)")
    ax.set_ylabel("dev " + LOSS_LABEL)
    ax.grid(True, alpha=0.3)
    return line


def to_db(magnitude: np.ndarray, *, reference: float | None = None,
          floor_db: float = -100.0) -> np.ndarray:
    """Magnitudes in dB relative to ``reference`` (default the maximum), floored.

    Parameters
    ----------
    magnitude : np.ndarray [shape=(...)]
        Non-negative magnitudes.
    reference : float, optional
        The 0 dB level (default ``magnitude.max()``).
    floor_db : float
        Lowest value returned.

    Returns
    -------
    np.ndarray [shape=(...)]
    """
    m = np.asarray(magnitude, dtype=float)
    ref = float(np.nanmax(m)) if reference is None else float(reference)
    if not ref > 0:
        return np.full(m.shape, floor_db)
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(np.maximum(m, 0.0) / ref)
    return np.maximum(db, floor_db)


def plot_spectrogram(spectrogram: np.ndarray, *, times: np.ndarray, frequencies: np.ndarray,
                     ax=None, reference: float | None = None, vmin: float = -80.0,
                     vmax: float = 0.0, cmap: str = "magma", max_khz: float | None = None):
    """A mean spectrogram (time within the clip × frequency) in dB (the paper's Figure 3).

    Drawn with ``imshow`` (one raster image), so SVG files stay small.

    Parameters
    ----------
    spectrogram : np.ndarray [shape=(T, bins)]
        Mean magnitudes per block position and frequency bin.
    times : np.ndarray [shape=(T,)]
        Time of each block from the clip's start, in seconds.
    frequencies : np.ndarray [shape=(bins,)]
        Bin frequencies in Hz (evenly spaced).
    ax : matplotlib.axes.Axes, optional
    reference : float, optional
        0 dB level (default the spectrogram's maximum); give the same reference to panels that
        are compared.
    vmin, vmax : float
        Colour range in dB.
    cmap : str
    max_khz : float, optional
        Upper frequency shown (default Nyquist).

    Returns
    -------
    image : matplotlib.image.AxesImage
    """
    ax = _axes(ax)
    s = np.asarray(spectrogram, dtype=float)
    t = np.asarray(times, dtype=float)
    f = np.asarray(frequencies, dtype=float)
    if s.ndim != 2 or s.shape != (t.size, f.size):
        raise ParameterError(
            f"spectrogram must have shape (len(times), len(frequencies)) = ({t.size}, {f.size}), "
            f"got {s.shape}")
    dt = (t[1] - t[0]) if t.size > 1 else 1.0
    df = (f[1] - f[0]) if f.size > 1 else 1.0
    extent = (t[0] - dt / 2, t[-1] + dt / 2, (f[0] - df / 2) / 1e3, (f[-1] + df / 2) / 1e3)
    image = ax.imshow(to_db(s, reference=reference).T, origin="lower", aspect="auto",
                      extent=extent, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
    if max_khz is not None:
        ax.set_ylim(extent[2], max_khz)
    ax.set_xlabel("time within clip (s)")
    ax.set_ylabel("frequency (kHz)")
    return image


def plot_spectra(frequencies: np.ndarray, spectra: Mapping[str, np.ndarray], *, ax=None,
                 band: tuple[float, float] | None = BAND, reference: float | None = None,
                 colors: Mapping[str, str] | None = None, floor_db: float = -100.0):
    """Mean magnitude spectra in dB on one axes, with a frequency band shaded.

    Parameters
    ----------
    frequencies : np.ndarray [shape=(bins,)]
        Bin frequencies in Hz.
    spectra : mapping of str to np.ndarray [shape=(bins,)]
        Label → mean magnitude spectrum.
    ax : matplotlib.axes.Axes, optional
    band : (float, float) or None
        Band to shade, in Hz (default the paper's 4–7 kHz).
    reference : float, optional
        0 dB level (default the largest value of all spectra).
    colors : mapping of str to colour, optional
        Colour per label (default :data:`CELL_COLORS` where the label matches a cell).
    floor_db : float

    Returns
    -------
    lines : list of matplotlib.lines.Line2D
        One per spectrum; the shaded band is ``ax.patches[-1]`` when ``band`` is given.
    """
    ax = _axes(ax)
    f = np.asarray(frequencies, dtype=float) / 1e3
    if reference is None:
        reference = max(float(np.nanmax(np.asarray(s, dtype=float))) for s in spectra.values())
    colors = dict(colors or {})
    lines = []
    for label, spec in spectra.items():
        spec = np.asarray(spec, dtype=float)
        if spec.shape != f.shape:
            raise ParameterError(f"spectrum {label!r} has shape {spec.shape}, expected {f.shape}")
        color = colors.get(label, CELL_COLORS.get(str(label).split()[0].lower()))
        (line,) = ax.plot(f, to_db(spec, reference=reference, floor_db=floor_db), label=label,
                          color=color, linewidth=1.0)
        lines.append(line)
    if band is not None:
        ax.axvspan(band[0] / 1e3, band[1] / 1e3, color="gold", alpha=0.25,
                   label=f"{band[0] / 1e3:g}–{band[1] / 1e3:g} kHz band")
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("mean magnitude (dB re. max)")
    ax.grid(True, alpha=0.3)
    return lines


def plot_against_length(times: Sequence[float], values: Sequence[float], *, ax=None,
                        label: str | None = None, color=None, linestyle: str = "-",
                        marker: str = "o", ylabel: str | None = None):
    """A measure against generation length, given as a multiple of the seed's length.

    Parameters
    ----------
    times : sequence of float [shape=(n,)]
        Generation lengths as multiples of the seed (1 = as long as the seed).
    values : sequence of float [shape=(n,)]
        The measure at each length (NaN points are left out).
    ax : matplotlib.axes.Axes, optional
    label : str, optional
    color : optional
    linestyle, marker : str
    ylabel : str, optional
        Label of the y axis, with units.

    Returns
    -------
    line : matplotlib.lines.Line2D
    """
    ax = _axes(ax)
    x = np.asarray(times, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ParameterError(f"times and values must be 1-D of one length, got {x.shape}, {y.shape}")
    keep = np.isfinite(y)
    (line,) = ax.plot(x[keep], y[keep], linestyle=linestyle, marker=marker, color=color,
                      label=label)
    ax.set_xlabel("generation length (× seed length)")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return line


def plot_bars(groups: Mapping[str, Mapping[str, float]], *, ax=None, ylabel: str | None = None,
              colors: Mapping[str, str] | None = None, reference: float | None = None,
              reference_label: str | None = None):
    """Grouped bars: one group per key of ``groups``, one bar per series within a group.

    Parameters
    ----------
    groups : mapping of str to mapping of str to float
        Group label (e.g. a corpus) → series label (e.g. ``"dev audio"``, ``"LSTM"``) → value.
        Missing or NaN values leave a gap.
    ax : matplotlib.axes.Axes, optional
    ylabel : str, optional
        Label of the value axis, with units.
    colors : mapping of str to colour, optional
        Colour per series label.
    reference : float, optional
        Draw a horizontal dotted line at this value (e.g. white noise's flatness).
    reference_label : str, optional

    Returns
    -------
    bars : list of matplotlib.container.BarContainer
        One per series.
    """
    ax = _axes(ax)
    names = list(groups)
    series: list[str] = []
    for g in groups.values():
        for s in g:
            if s not in series:
                series.append(s)
    width = 0.8 / max(len(series), 1)
    colors = dict(colors or {})
    bars = []
    for j, s in enumerate(series):
        values = [groups[g].get(s) for g in names]
        values = [np.nan if v is None else float(v) for v in values]
        x = np.arange(len(names)) + (j - (len(series) - 1) / 2) * width
        color = colors.get(s, CELL_COLORS.get(s.split()[0].lower()))
        bars.append(ax.bar(x, values, width=width, label=s, color=color))
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle=":", label=reference_label)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    return bars
