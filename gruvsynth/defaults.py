"""Keras-free constants shared by the library and the command line.

Modules that import Keras (:mod:`gruvsynth.models`) re-export these; the command line and the
configuration classes import them from here, so that ``gruvsynth --help`` does not start Keras.
"""

from __future__ import annotations

__all__ = ["RECIPES", "DEFAULT_RECIPE", "CELL_FAMILIES", "FAMILY_LABELS", "CELL_LABELS"]

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
