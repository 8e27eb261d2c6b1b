"""Keras-free constants shared by the library and the command line.

Modules that import Keras (:mod:`gruvsynth.models`) re-export these; the command line and the
configuration classes import them from here, so that ``gruvsynth --help`` does not start Keras.
"""

from __future__ import annotations

__all__ = [
    "SR", "BLOCK", "CLIP_BLOCKS", "BAND",
    "DEFAULT_CELL", "DEFAULT_HIDDEN", "DEFAULT_FEATURES", "DEFAULT_LEARNING_RATE",
    "GENERATION_METHODS", "DEFAULT_METHOD", "SEED_SPLITS", "DEFAULT_SEED_FROM",
    "DEFAULT_SEED_BLOCKS", "DEFAULT_TIMES", "DEFAULT_N_SEEDS", "DEFAULT_CHECKPOINT",
    "RECIPES", "DEFAULT_RECIPE", "RMSPROP_EPSILON", "KERAS01_ORTHOGONAL_SCALE",
    "CELL_FAMILIES", "FAMILY_LABELS", "CELL_LABELS",
]

# ---- audio and features

#: Sample rate of every corpus and of generated audio (Hz): 44.1 kHz, as the paper.
SR = 44100
#: Samples in one block: a quarter second at 44.1 kHz (the paper's block).
BLOCK = 11025
#: Blocks in one training clip: 40 blocks = 10 s (the authors' ``max_seq_len``).
CLIP_BLOCKS = 40
#: The paper's "4000 - 7000" band (no unit in the paper; read as Hz) that the GRU's noise is
#: said to fall outside of (claim C5), in Hz.
BAND = (4000.0, 7000.0)

# ---- the model

DEFAULT_CELL = "lstm"
#: The paper's hidden size (the released code used 1024).
DEFAULT_HIDDEN = 2048
#: 2 N for blocks of N = 11,025 samples (real and imaginary parts side by side).
DEFAULT_FEATURES = 2 * BLOCK
#: RMSprop's learning rate, as in the released code.
DEFAULT_LEARNING_RATE = 1e-3

# ---- generation

#: ``"faithful"`` re-feeds the whole sequence as the authors' code; ``"stateful"`` carries
#: the recurrent state and feeds one block per iteration.
GENERATION_METHODS = ("faithful", "stateful")
DEFAULT_METHOD = "stateful"
#: Where seeds are drawn from: the corpus's dev split (default) or its training split (the
#: authors' code).
SEED_SPLITS = ("dev", "train")
DEFAULT_SEED_FROM = "dev"
#: Seed length in blocks: one 10 s clip.
DEFAULT_SEED_BLOCKS = CLIP_BLOCKS
#: Output length as a multiple of the seed (what the paper found best before loops set in).
DEFAULT_TIMES = 3.0
DEFAULT_N_SEEDS = 1
#: The checkpoint generation and evaluation load by default.
DEFAULT_CHECKPOINT = "final"

#: Training recipes: the optimizer and the initialisation around the cells
#: (:func:`gruvsynth.models.build_model`'s ``recipe``).
#:
#: ``"keras3"``
#:     Keras 3's: ``RMSprop(learning_rate, rho=0.9, epsilon=1e-7)`` and each layer's own default
#:     initialisers (a recurrent kernel drawn as one matrix for all gates).
#: ``"keras01"``
#:     What the authors' code got from Keras 0.1.0 (the version their README names):
#:     ``RMSprop(learning_rate, rho=0.9, epsilon=1e-6)`` (Keras 0.1 and Keras 3 both add epsilon
#:     *inside* the square root, ``p - lr g / sqrt(a + eps)``; only the value differs), each
#:     gate's input kernel its own ``glorot_uniform`` and each gate's recurrent kernel its own
#:     orthogonal matrix ×1.1 (:class:`~gruvsynth.cells.GatewiseGlorotUniform`,
#:     :class:`~gruvsynth.cells.GatewiseOrthogonal`), and the LSTM's forget-gate bias starting
#:     at 0 (``forget_bias_init='one'`` arrived in Keras 0.1.2).  The projections are the same
#:     in both (``glorot_uniform`` kernel, zero bias).  Applies to the Keras-layout cells
#:     ``lstm``, ``gru``, ``keras01_lstm`` and ``keras01_gru``.
RECIPES = ("keras3", "keras01")
DEFAULT_RECIPE = "keras3"
#: RMSprop's epsilon per recipe (rho is 0.9 in both).
RMSPROP_EPSILON = {"keras3": 1e-7, "keras01": 1e-6}
#: The scale of the ``"keras01"`` recipe's orthogonal recurrent kernels (Keras 0.1's
#: ``orthogonal(shape, scale=1.1)``).
KERAS01_ORTHOGONAL_SCALE = 1.1

#: Which family each built-in cell belongs to: the cells that produced the paper's numbers
#: (``"authors"``: Keras 0.1 as the authors' code ran it), today's Keras (``"keras3"``), or the
#: paper's written equations (``"paper"``).
CELL_FAMILIES: dict[str, str] = {
    "lstm": "keras3", "gru": "keras3",
    "keras01_lstm": "authors", "keras01_gru": "authors",
    "peephole_lstm": "paper", "paper_gru": "paper",
}

#: How each built-in cell is named in legends, tables and on the page: model and family.
CELL_LABELS: dict[str, str] = {
    "lstm": "LSTM (Keras 3)", "gru": "GRU (Keras 3)",
    "keras01_lstm": "LSTM (authors', Keras 0.1)", "keras01_gru": "GRU (authors', Keras 0.1)",
    "peephole_lstm": "LSTM (paper's eq.)", "paper_gru": "GRU (paper's eq.)",
}

#: How each family is named on the page, in tables and in figures.
FAMILY_LABELS: dict[str, str] = {
    "authors": "authors' cells (Keras 0.1)",
    "keras3": "today's cells (Keras 3)",
    "paper": "the paper's equations",
}
