"""Run the cell and model checks on the Keras backend named by ``KERAS_BACKEND``.

Used by ``tests/test_backends.py``, one subprocess per installed backend (Keras picks its
backend once per process)::

    cd tests && KERAS_BACKEND=jax python -m helpers.backend_check

(from the ``tests`` folder, as a module of :mod:`helpers`: it imports ``test_cells``).

Checks, for every cell (``lstm``, ``gru``, ``peephole_lstm``, ``paper_gru`` and the user cell of
``test_cells.py``): the paper cells against numpy versions of their equations, the Keras GRU
against the paper GRU with mapped weights, :func:`helpers.layer_checks.run_layer_test`, and
``build_model`` → one fit step → ``.keras`` save → safe-mode load → equal outputs.  Prints one
JSON line (backend, per-check results) and exits 0, or raises on the first failure.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import test_cells  # noqa: E402

from gruvsynth.models import build_model, describe  # noqa: E402

from .layer_checks import run_layer_test  # noqa: E402

TOLERANCE = 1e-5
FEATURES, HIDDEN, STEPS, BATCH = 10, 6, 5, 2


def model_round_trip(cell, folder: Path) -> float:
    """build_model → one fit step → save → load; returns the training loss."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype("float32")
    y = rng.standard_normal((BATCH, STEPS, FEATURES)).astype("float32")
    model = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, seed=1)
    loss = float(model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0).history["loss"][0])
    assert np.isfinite(loss), f"{cell}: loss {loss}"
    path = folder / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert describe(loaded) == describe(model), f"{cell}: describe differs after loading"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(model(x)),
        rtol=0,
        atol=1e-6,
    )
    return loss


def main() -> int:
    results: dict = {"backend": keras.backend.backend(), "reference": {}, "layers": {}, "models": {}}
    errors = {
        "peephole_lstm": test_cells.peephole_error(1),
        "peephole_lstm_no_bias": test_cells.peephole_error(1, use_bias=False),
        "paper_gru": test_cells.paper_gru_error(2),
        "paper_gru_no_bias": test_cells.paper_gru_error(2, use_bias=False),
        "keras_gru_mapped": test_cells.keras_gru_mapping_error(3),
        "keras01_lstm": test_cells.keras01_lstm_error(4),
        "keras01_gru": test_cells.keras01_gru_error(5),
    }
    for name, error in errors.items():
        assert error <= TOLERANCE, f"{name}: max error {error:.3g} > {TOLERANCE}"
        results["reference"][name] = error

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name, (make, n_weights, n_params) in test_cells.LAYER_CASES.items():
            results["layers"][name] = run_layer_test(
                make,
                input_dim=8,
                expected_num_weights=n_weights,
                expected_num_params=n_params(8, 6),
                directory=folder,
            )
        cells = ["lstm", "gru", "keras01_lstm", "keras01_gru", "peephole_lstm", "paper_gru",
                 test_cells.LeakyCell]
        for cell in cells:
            name = cell if isinstance(cell, str) else cell.__name__
            results["models"][name] = model_round_trip(cell, folder)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
