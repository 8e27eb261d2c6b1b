"""Shared pytest fixtures (a seeded random generator, a quiet TensorFlow, the tiny corpora and
run several modules train on) and the work units of a parallel run (pytest-xdist)."""

from __future__ import annotations

import os
from pathlib import Path

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


# --------------------------------------------------------------------------------------------
# tiny corpora and a tiny run, made once per session (per worker under pytest-xdist)


@pytest.fixture(scope="session")
def tiny_corpora(tmp_path_factory) -> dict[str, Path]:
    """:func:`helpers.train_helpers.tone_corpus` and :func:`~helpers.train_helpers.mini_corpus`,
    prepared once for every module that trains on them.

    Read-only: training, evaluating and generating only read a corpus; a test that changes
    one works on a copy (``shutil.copytree`` into its ``tmp_path``).
    """
    from helpers.train_helpers import mini_corpus, tone_corpus

    root = tmp_path_factory.mktemp("tiny-corpora")
    return {"tone": tone_corpus(root), "mini": mini_corpus(root)}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_corpora):
    """A finished run on the mini corpus: the built-in LSTM, hidden 4, one epoch, defaults
    otherwise (``train(mini, run, hidden=4, epochs=1, progress=False)``).

    Read-only, like :func:`tiny_corpora`: a test that writes into a run (resumes it, edits
    its files) copies it into its ``tmp_path`` first.
    """
    from gruvsynth.training import train

    root = tmp_path_factory.mktemp("tiny-run")
    return train(tiny_corpora["mini"], root / "run", hidden=4, epochs=1, progress=False)


# --------------------------------------------------------------------------------------------
# work units of a parallel run (``make test``: ``pytest -n 2 --dist loadscope
# --no-loadscope-reorder``, see the Makefile)

#: Modules whose tests may run on different workers, one work unit each: their module fixtures
#: are cheap (the session's tiny corpora) and their slow tests are many seconds each.  Every
#: other module is one work unit, so that its module fixtures (the smoke reproduction, a dry
#: run, a trained model, prepared corpora) are built once.
SPLIT_MODULES = frozenset({
    "test_backends.py", "test_distribute.py", "test_resident.py", "test_security.py",
    "test_train_cli.py", "test_fused_twin.py", "test_training.py",
})

#: The longest work units first (node-id prefixes, longest first): xdist hands out the units
#: in collection order, and a long unit started last would leave the other worker idle.
#: Ranked by a serial run's durations on the 2-core machine; a unit not listed keeps its place
#: after these.
LONGEST_FIRST = (
    "tests/test_reproduce_smoke.py",
    "tests/test_dry_run.py",
    "tests/test_train_cli.py::test_resume_after_kill_9",
    "tests/test_resident.py::test_resident_feed_trains_exactly_like_the_streamed_one",
    "tests/test_backends.py::test_cells_and_models_on_backend[jax]",
    "tests/test_train_cli.py::test_every_cell_trains_saves_and_loads_on_every_backend[tensorflow]",
    "tests/test_train_cli.py::test_every_cell_trains_saves_and_loads_on_every_backend[jax]",
    "tests/test_generation.py",
    "tests/test_training.py::test_interrupted_run_resumes_exactly",
    "tests/test_training.py::test_loss_falls_on_a_tone",
    "tests/test_security.py::test_a_cell_of_ones_own_loads_only_when_its_module_is_named",
    "tests/test_sweep.py",
    "tests/test_fused_twin.py::test_benchmark_times_the_resident_feed_on_jax",
    "tests/test_docs.py",
    "tests/test_fused_twin.py::test_benchmark_runs_at_tiny_size_and_writes_json",
    "tests/test_train_cli.py::test_every_cell_trains_saves_and_loads_on_every_backend[torch]",
    "tests/test_evaluation.py",
    "tests/test_noise.py",
)


def work_unit(nodeid: str) -> str:
    """The work unit of a test: its module, or the test itself in :data:`SPLIT_MODULES`."""
    module = nodeid.split("::", 1)[0]
    return nodeid if Path(module).name in SPLIT_MODULES else module


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadscope`` with :func:`work_unit` for the scope.

    (Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8 groups by editing
    the node id, which pytest 9.2 no longer lets it do, so the marks are silently ignored.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


def _rank(nodeid: str) -> int:
    return next((k for k, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix)),
                len(LONGEST_FIRST))


def pytest_addoption(parser):
    parser.addoption(
        "--serial", choices=("run", "skip", "only"), default="run",
        help="the tests marked 'serial' (they must have the machine to themselves): run them "
             "with the others (default), leave them out, or run only them; make test runs "
             "the others on its workers, then these alone")


def pytest_collection_modifyitems(config, items):
    """``--serial``: keep or leave out the tests marked ``serial``.  In a pytest-xdist worker,
    also the longest work units first (every worker sorts alike); a run without workers keeps
    the files' order."""
    choice = config.getoption("serial")
    if choice != "run":
        wanted = [(item.get_closest_marker("serial") is not None) == (choice == "only")
                  for item in items]
        deselected = [item for item, keep in zip(items, wanted, strict=True) if not keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item, keep in zip(items, wanted, strict=True) if keep]
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _rank(item.nodeid))  # stable: the files' order otherwise
