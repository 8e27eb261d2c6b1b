"""The dev set: one pass of a model over its clips (:func:`dev_pass`: the dev loss and Figure
3's mean spectrograms), Figure 3's file (:func:`save_figure3`, :func:`load_figure3`), and the
dev audio's mean spectrum and metrics without a model (:func:`dev_reference`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gruvsynth import features as feats
from gruvsynth.errors import CorpusError, ParameterError
from gruvsynth.evaluation.metrics import BAND, audio_metrics
from gruvsynth.fileio import atomic_path

__all__ = ["dev_pass", "save_figure3", "load_figure3", "dev_reference", "ClipMetrics"]


class ClipMetrics:
    """The audio metrics of clips, averaged: what :func:`dev_pass` and :func:`dev_reference`
    report of the real dev audio.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
        Gives the representation, block size and sample rate.
    band : (float, float)
        Band for :func:`~gruvsynth.evaluation.metrics.energy_outside_band`.
    """

    def __init__(self, corpus, band: tuple[float, float]):
        self.rep, self.block, self.sr = corpus.representation, int(corpus.block), int(corpus.sr)
        self.band = band
        self.values = {"spectral_flatness": [], "outside_band": [], "rms": [],
                       "clipped_share": []}

    def add(self, raw_clip: np.ndarray) -> None:
        """Measure one clip of de-normalised blocks ``(T, D)``."""
        audio = feats.to_audio(raw_clip, representation=self.rep, block=self.block)
        for key, value in audio_metrics(audio, sr=self.sr, band=self.band).items():
            self.values[key].append(value)

    def means(self) -> dict:
        """Each metric averaged over the clips (NaN ones left out; NaN if none is finite)."""
        return {k: float(np.nanmean(v)) if np.any(np.isfinite(v)) else float("nan")
                for k, v in self.values.items()}


def dev_pass(
    model,
    corpus,
    *,
    split: str = "dev",
    batch_size: int = 5,
    band: tuple[float, float] = BAND,
    progress: bool = True,
) -> dict:
    """One pass over the dev clips: the dev loss, Figure 3's data and the dev audio's metrics.

    Parameters
    ----------
    model : keras.Model
        The trained model (run in float32 whatever precision trained it,
        :func:`gruvsynth.models.float32_model`).
    corpus : gruvsynth.corpus.Corpus
        Its corpus (clips, statistics, block size, representation).
    split : {"dev", "train"}
        Which clips (``"dev"``, as the paper).
    batch_size : int
        Clips predicted at a time.
    band : (float, float)
        Band for :func:`energy_outside_band`.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``loss`` (float: MSE over all clips, blocks and features, normalised space, as training
        reports it); ``n_clips``; ``frequencies`` (np.ndarray [shape=(bins,)], Hz);
        ``block_times`` (np.ndarray [shape=(T,)], seconds from the clip's start of each
        predicted block); ``true_spectrogram`` and ``pred_spectrogram`` (np.ndarray
        [shape=(T, bins)]: mean magnitude of the true next blocks / the predictions at each
        position); ``true_spectrum`` and ``pred_spectrum`` (np.ndarray [shape=(bins,)], the same
        averaged over time); ``reference_spectrum`` (np.ndarray [shape=(bins,)], mean magnitude
        spectrum of every input block, for :func:`log_spectral_distance`); ``reference`` (dict:
        the audio metrics of the dev clips' audio, averaged over clips).

    Raises
    ------
    CorpusError
        If the split has no clips.
    """
    from gruvsynth.models import float32_model

    model = float32_model(model)
    inputs, targets = corpus.clips(split)
    n_clips, steps, _ = inputs.shape
    if n_clips == 0:
        raise CorpusError(f"{corpus.path}: the corpus has no {split} clips")
    block, sr = int(corpus.block), int(corpus.sr)
    sums = _predict_clips(model, corpus, inputs, targets, batch_size=batch_size, band=band,
                          progress=progress, desc=f"{split} clips")
    true_spec = sums["true"] / n_clips
    pred_spec = sums["pred"] / n_clips
    return {
        "loss": sums["sq_err"] / sums["count"],
        "n_clips": int(n_clips),
        "frequencies": feats.bin_frequencies(block, sr=sr),
        "block_times": (np.arange(steps) + 1) * block / sr,
        "true_spectrogram": true_spec,
        "pred_spectrogram": pred_spec,
        "true_spectrum": true_spec.mean(axis=0),
        "pred_spectrum": pred_spec.mean(axis=0),
        "reference_spectrum": sums["input"] / (n_clips * steps),
        "reference": sums["reference"],
    }


def _predict_clips(model, corpus, inputs, targets, *, batch_size: int, band, progress: bool,
                   desc: str) -> dict:
    """Predict every clip, a batch at a time: sums of the squared error and of the true,
    predicted and input magnitudes per position, and the inputs' audio metrics."""
    from tqdm.auto import tqdm

    n_clips, steps, _ = inputs.shape
    rep, bins = corpus.representation, int(corpus.block) // 2 + 1
    sums = {"true": np.zeros((steps, bins)), "pred": np.zeros((steps, bins)),
            "input": np.zeros(bins), "sq_err": 0.0, "count": 0}
    ref = ClipMetrics(corpus, band)
    with tqdm(total=n_clips, disable=not progress, desc=desc, unit="clip", leave=False) as bar:
        for i in range(0, n_clips, batch_size):
            x = np.asarray(inputs[i: i + batch_size], dtype=np.float32)
            y = np.asarray(targets[i: i + batch_size], dtype=np.float32)
            p = np.asarray(model.predict_on_batch(x), dtype=np.float32)
            sums["sq_err"] += float(np.sum((p.astype(np.float64) - y) ** 2))
            sums["count"] += y.size
            sums["true"] += feats.magnitudes(corpus.denormalise(y),
                                             representation=rep).sum(axis=0)
            sums["pred"] += feats.magnitudes(corpus.denormalise(p),
                                             representation=rep).sum(axis=0)
            x_raw = corpus.denormalise(x)
            sums["input"] += feats.magnitudes(x_raw, representation=rep).sum(axis=(0, 1))
            for clip in x_raw:
                ref.add(clip)
            bar.update(x.shape[0])
    sums["reference"] = ref.means()
    return sums


_FIG3_ARRAYS = ("frequencies", "block_times", "true_spectrogram", "pred_spectrogram",
                "true_spectrum", "pred_spectrum", "reference_spectrum")


def save_figure3(path, data: dict, **meta) -> Path:
    """Write Figure 3's arrays to an ``.npz`` file (atomically).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    data : dict
        From :func:`dev_pass`.
    **meta
        Extra scalars or strings stored beside (e.g. ``cell="lstm"``).

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Arrays: ``frequencies`` (bins,), ``block_times`` (T,), ``true_spectrogram`` and
    ``pred_spectrogram`` (T, bins), ``true_spectrum``, ``pred_spectrum`` and
    ``reference_spectrum`` (bins,), ``n_clips``, ``loss`` and each ``meta`` item as a 0-d array.
    """
    path = Path(path)
    arrays = {k: np.asarray(data[k]) for k in _FIG3_ARRAYS}
    arrays["n_clips"] = np.asarray(data["n_clips"])
    arrays["loss"] = np.asarray(data["loss"])
    arrays.update({k: np.asarray(v) for k, v in meta.items()})
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return path


def load_figure3(path) -> dict:
    """Read a file written by :func:`save_figure3`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        The arrays by name; 0-d arrays become Python scalars or strings.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: no such Figure 3 file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: not a Figure 3 file ({exc})") from None



def dev_reference(corpus, *, band: tuple[float, float] = BAND) -> dict:
    """The dev set's mean spectrum and its audio metrics, one dev clip at a time.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
    band : (float, float)

    Returns
    -------
    dict
        ``spectrum`` (np.ndarray [shape=(N // 2 + 1,)]: mean magnitude of every dev block,
        as :func:`dev_pass`'s ``reference_spectrum``) and ``metrics`` (:func:`audio_metrics`
        of each dev clip, averaged).
    """
    inputs, _ = corpus.clips("dev")
    if len(inputs) == 0:
        raise CorpusError(f"{corpus.path}: no dev clips to compare with")
    rep = corpus.representation
    total = np.zeros(int(corpus.block) // 2 + 1)
    count = 0
    ref = ClipMetrics(corpus, band)
    for clip in inputs:
        raw = corpus.denormalise(clip)
        total += feats.magnitudes(raw, representation=rep).sum(axis=0)
        count += raw.shape[0]
        ref.add(raw)
    return {"spectrum": total / count, "metrics": ref.means()}
