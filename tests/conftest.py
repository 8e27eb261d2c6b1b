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


@pytest.fixture(scope="session")
def unprivileged() -> list[str]:
    """A command prefix that runs a program without the power to bypass file permissions.

    For root that is ``setpriv`` dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set (so ``chmod 000`` means what it says); for anyone else nothing is needed.
    Skips the test where root has no working ``setpriv``.
    """
    import shutil
    import subprocess

    if os.geteuid() != 0:
        return []
    exe = shutil.which("setpriv")
    if exe is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    prefix = [exe, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here: file permissions cannot be tested")
    return prefix
