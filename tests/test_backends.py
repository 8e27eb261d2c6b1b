"""Every cell on every installed Keras backend: ``helpers/backend_check.py`` in one subprocess
each.

The backend of this process (TensorFlow unless ``KERAS_BACKEND`` says otherwise) is covered by
``test_cells.py`` and ``test_models.py`` directly, so only the other installed backends get a
subprocess (each costs a backend start-up and its own compilations)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

TESTS = Path(__file__).resolve().parent
#: Run as ``python -m helpers.backend_check`` from this folder (it imports ``test_cells``).
MODULE = "helpers.backend_check"
BACKENDS = ["tensorflow", "jax", "torch"]
#: This process's backend is tested in-process; the others each in a subprocess.
OTHER_BACKENDS = [b for b in BACKENDS if b != keras.backend.backend()]
CELLS = ["lstm", "gru", "keras01_lstm", "keras01_gru", "peephole_lstm", "paper_gru"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.process
def test_cells_and_models_on_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", MODULE], env=env, cwd=TESTS, capture_output=True, text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{backend}:\n{done.stderr[-4000:]}"
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["backend"] == backend
    assert set(results["layers"]) == {*CELLS, "user_leaky"}
    assert set(results["models"]) == {*CELLS, "LeakyCell"}
    assert all(error <= 1e-5 for error in results["reference"].values()), results["reference"]
