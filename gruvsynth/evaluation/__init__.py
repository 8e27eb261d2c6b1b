"""Objective evaluation of a trained run: dev loss, Figure 3, audio metrics, loops, novelty.

The paper judged its generated music by listening.  This package measures what can be
measured and stands in for that judgement:

* **Dev loss** (:func:`dev_pass`): the mean squared error over every dev clip, the training
  loss's definition (paper eq. 1; the mean over clips, blocks and features).
* **Baselines** (:func:`baseline_losses`): what trivial predictors get over exactly the same
  blocks — the training mean (0 in normalised space), persistence (the next block equals this
  one) and the best per-feature linear persistence fitted on the training split — and
  :func:`skill`, ``1 - model loss / best baseline``.  On these features consecutive blocks are
  almost uncorrelated, so a model near the mean predictor's loss has learned nothing.
* **Figure 3** (:func:`dev_pass`, :func:`save_figure3`): as the paper made it, the model predicts
  the next block for every block of every dev clip; for each of the ``T`` block positions of a
  clip and each frequency bin, the magnitude (:func:`gruvsynth.features.magnitudes` of the
  de-normalised features) is averaged over all dev clips — a mean spectrogram ``(T, bins)`` —
  for the true next blocks and for the predictions, and each is averaged over time too (a mean
  spectrum).
* **Audio metrics** of generated audio and of real dev audio: :func:`spectral_flatness` (white
  noise → 1, a tone → 0), :func:`energy_outside_band` (the paper saw GRU activations outside
  4–7 kHz), :func:`log_spectral_distance` to the dev set's mean spectrum (level included, and
  level matched: the spectral shape only), :func:`rms` and :func:`clipped_share`.
* **Noise-likeness** (the paper heard its GRU's output as "primarily white noise"): the noise
  distance and its verdict, calibrated on anchors made from each corpus — its dev music,
  corpus-shaped noise, white noise, a chord — by :mod:`gruvsynth.noise` (plain spectral
  flatness cannot tell noise shaped by the corpus's statistics from its music).
* **Loops** (:func:`detect_loop`): the paper's "generation loops", where the output gets stuck
  repeating itself; reported as the first block of the loop and the loop-free length as a
  multiple of the seed (the paper found about 3× loop-free).
* **Novelty** (:func:`novelty`): the distance of each generated block to its nearest training
  block; the authors' README warns that seeds from training data "generally produce verbatim
  copies of the original songs".

:func:`evaluate_run` does all of it for a run folder and :func:`format_table` prints a short
table; ``gruvsynth evaluate RUN_DIR`` is the command.  :func:`evaluate_audio` measures any audio
files against a corpus (every audio metric and the noise-likeness verdict) and
:func:`format_audio_table` prints them: ``gruvsynth evaluate --audio FILE... --corpus DIR``.

This package re-exports its public names, so ``from gruvsynth.evaluation import ...`` keeps
working; they live in :mod:`gruvsynth.evaluation.metrics` (audio and spectrum metrics),
:mod:`gruvsynth.evaluation.loops` (loops and novelty), :mod:`gruvsynth.evaluation.baselines`,
:mod:`gruvsynth.evaluation.dev` (the dev pass, Figure 3's file, the dev reference),
:mod:`gruvsynth.evaluation.run` (:func:`evaluate_run`), :mod:`gruvsynth.evaluation.files`
(:func:`evaluate_audio`) and :mod:`gruvsynth.evaluation.tables` (the printed tables).
"""

from gruvsynth.evaluation.baselines import (
    BASELINES,
    baseline_losses,
    best_baseline,
    skill,
    split_loss,
)
from gruvsynth.evaluation.dev import dev_pass, dev_reference, load_figure3, save_figure3
from gruvsynth.evaluation.files import evaluate_audio
from gruvsynth.evaluation.loops import (
    LOOP_MAX_PERIOD,
    LOOP_MIN_BLOCKS,
    LOOP_THRESHOLD,
    NEAR_COPY,
    copy_verdict,
    detect_loop,
    locate_training_block,
    nearest_distances,
    novelty,
)
from gruvsynth.evaluation.metrics import (
    BAND,
    FLATNESS_FRAME,
    FLATNESS_SEGMENT,
    audio_metrics,
    clipped_share,
    energy_outside_band,
    log_spectral_distance,
    mean_spectrum,
    rms,
    spectral_flatness,
)
from gruvsynth.evaluation.run import EVAL_SEEDS, evaluate_run
from gruvsynth.evaluation.tables import AUDIO_ROWS, format_audio_table, format_table

__all__ = [
    "BAND",
    "FLATNESS_FRAME",
    "FLATNESS_SEGMENT",
    "LOOP_THRESHOLD",
    "LOOP_MAX_PERIOD",
    "LOOP_MIN_BLOCKS",
    "NEAR_COPY",
    "EVAL_SEEDS",
    "spectral_flatness",
    "energy_outside_band",
    "mean_spectrum",
    "log_spectral_distance",
    "rms",
    "clipped_share",
    "audio_metrics",
    "detect_loop",
    "nearest_distances",
    "novelty",
    "locate_training_block",
    "copy_verdict",
    "dev_pass",
    "split_loss",
    "baseline_losses",
    "best_baseline",
    "skill",
    "BASELINES",
    "save_figure3",
    "load_figure3",
    "evaluate_run",
    "format_table",
    "AUDIO_ROWS",
    "dev_reference",
    "evaluate_audio",
    "format_audio_table",
]
