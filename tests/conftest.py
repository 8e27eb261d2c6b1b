"""Shared pytest fixtures: a seeded random generator and a quiet TensorFlow."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the kernels gruvsynth.backend.select_backend gives every gruvsynth command
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    """A random generator with a fixed seed, so every test run sees the same data."""
    return np.random.default_rng(12345)
