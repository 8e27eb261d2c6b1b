"""Data-parallel training (gruvsynth.distribute): 2 CPU devices equal 1 device, cross resume,
two processes agree.

The backend tests run real Keras training in subprocesses (the device count of JAX and
TensorFlow is fixed when they start), each bounded by a timeout; every subprocess runs
several trainings (:mod:`helpers.distribute_run`) to pay the backend's start-up cost once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gruvsynth.distribute import DistributeConfig, pad_batch
from gruvsynth.errors import ParameterError

HERE = Path(__file__).parent
HELPER = HERE / "helpers" / "distribute_run.py"
RTOL = 1e-4
TINY = {"hidden": 8, "batch_size": 5, "checkpoint_every": 1, "seed": 3}
DP2 = {"mode": "data-parallel", "devices": 2}


@pytest.fixture(scope="module")
def corpus(tiny_corpora):
    return tiny_corpora["tone"]  # 57 train, 21 dev clips


def _env(backend: str, **extra) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


def _run_spec(tmp_path: Path, name: str, spec: dict, env: dict, timeout: float = 170):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, str(HELPER), str(path)], env=env, timeout=timeout,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    return {r["run"]: r for r in lines}


# ---------------------------------------------------------------------------------------------
# no backend needed


def test_config_validation():
    assert DistributeConfig.coerce(None).mode == "none"
    assert DistributeConfig.coerce("data-parallel").mode == "data-parallel"
    assert DistributeConfig.coerce({"mode": "data-parallel", "devices": 2}).devices == 2
    for bad in ({"mode": "model-parallel"}, {"mode": "data-parallel", "devices": 0},
                {"mode": "none", "devices": 2}, {"mode": "data-parallel", "process_id": -1},
                {"mode": "data-parallel", "num_processes": 2, "process_id": 2},
                {"mode": "data-parallel", "bogus": 1}):
        with pytest.raises(ParameterError):
            DistributeConfig.coerce(bad)


@pytest.mark.parametrize("n,replicas", [(5, 2), (1, 2), (6, 4), (4, 2), (7, 3)])
def test_pad_batch_keeps_the_mean(rng, n, replicas):
    x = rng.normal(size=(n, 3, 4)).astype(np.float32)
    y = rng.normal(size=(n, 3, 4)).astype(np.float32)
    px, py, w = pad_batch(x, y, replicas)
    assert len(px) % replicas == 0 and len(px) >= n and np.array_equal(px[:n], x)
    per_clip = ((px - py) ** 2).mean(axis=(1, 2))
    weights = np.ones(len(px)) if w is None else w
    # Keras: sum(weight * loss) / number of padded clips == plain mean over the real clips
    np.testing.assert_allclose((weights * per_clip).sum() / len(px),
                               ((x - y) ** 2).mean(), rtol=1e-6)


def test_help_explains_the_modes():
    proc = subprocess.run([sys.executable, "-m", "gruvsynth.commands.train", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for word in ("--distribute", "data-parallel", "--devices", "--coordinator",
                 "--num-processes", "--process-id", "TF_CONFIG", "MirroredStrategy",
                 "DataParallel"):
        assert word in proc.stdout, word


def test_docs_have_examples():
    text = (HERE.parent / "docs" / "distributed.rst").read_text()
    for word in ("--distribute data-parallel", "--coordinator", "TF_CONFIG",
                 "KERAS_BACKEND=jax", "--backend tensorflow"):
        assert word in text, word


# ---------------------------------------------------------------------------------------------
# one process, 2 devices vs 1 device, and cross resume


def _cross_resume_spec(corpus: Path, tmp: Path, backend: str, e1: int, e2: int) -> dict:
    o = {**TINY, "backend": backend}
    r = {k: str(tmp / k) for k in ("one", "two", "one_then_two", "two_then_one")}
    return {"corpus": str(corpus), "steps": [
        {"run": r["one"] + "-a", "opts": {**o, "epochs": e1}},
        {"run": r["two"], "opts": {**o, "epochs": e1, "distribute": DP2}},
        {"run": r["one_then_two"], "copy_from": r["one"] + "-a",
         "opts": {**o, "epochs": e2, "distribute": DP2}},
        {"run": r["two_then_one"], "copy_from": r["two"], "opts": {**o, "epochs": e2}},
        {"run": r["one"], "copy_from": r["one"] + "-a", "opts": {**o, "epochs": e2}},
    ]}


def _check_cross_resume(out: dict, tmp: Path, e1: int, e2: int):
    ref = out[str(tmp / "one")]
    assert len(ref["loss"]) == e2 and ref["replicas"] == 1
    assert ref["loss"][-1] < ref["loss"][0]  # it learns
    two = out[str(tmp / "two")]
    assert two["replicas"] == 2
    np.testing.assert_allclose(two["loss"], ref["loss"][:e1], rtol=RTOL)
    np.testing.assert_allclose(two["dev_loss"], ref["dev_loss"][:e1], rtol=RTOL)
    for name, replicas in (("one_then_two", 2), ("two_then_one", 1)):
        got = out[str(tmp / name)]
        assert got["replicas"] == replicas, name
        np.testing.assert_allclose(got["loss"], ref["loss"], rtol=RTOL, err_msg=name)
        np.testing.assert_allclose(got["dev_loss"], ref["dev_loss"], rtol=RTOL, err_msg=name)
    # the mode is recorded per session, not in the configuration
    cfg = json.loads((tmp / "two_then_one" / "config.json").read_text())
    assert "distribute" not in cfg and "devices" not in cfg
    sessions = json.loads((tmp / "two_then_one" / "versions.json").read_text())["sessions"]
    assert [s["distribute"]["replicas"] for s in sessions] == [2, 1]
    assert [s["distribute"]["mode"] for s in sessions] == ["data-parallel", "none"]


@pytest.mark.slow
@pytest.mark.process
@pytest.mark.serial
def test_jax_two_cpu_devices_match_one_and_cross_resume(corpus, tmp_path):
    spec = _cross_resume_spec(corpus, tmp_path, "jax", 2, 3)
    # the 2 CPU devices must exist before JAX starts: set here for the single-device runs too
    env = _env("jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = _run_spec(tmp_path, "jax", spec, env)
    assert out[str(tmp_path / "two")]["engine"] == "keras.distribution.DataParallel"
    _check_cross_resume(out, tmp_path, 2, 3)


@pytest.mark.slow
@pytest.mark.process
@pytest.mark.serial
def test_tensorflow_two_logical_cpus_match_one_and_cross_resume(corpus, tmp_path):
    spec = _cross_resume_spec(corpus, tmp_path, "tensorflow", 2, 3)
    # the data-parallel step runs first and asks for 2 devices, so distribute.py splits the
    # CPU into two logical devices before TensorFlow starts them; later steps reuse them
    spec["steps"] = [spec["steps"][1], spec["steps"][0]] + spec["steps"][2:]
    out = _run_spec(tmp_path, "tf", spec, _env("tensorflow"))
    assert out[str(tmp_path / "two")]["engine"] == "tf.distribute.MirroredStrategy"
    _check_cross_resume(out, tmp_path, 2, 3)


# ---------------------------------------------------------------------------------------------
# two processes on 127.0.0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.process
@pytest.mark.serial
def test_jax_two_processes_agree(corpus, tmp_path):
    port = _free_port()
    procs = []
    for pid in range(2):
        dist = {"mode": "data-parallel", "coordinator": f"127.0.0.1:{port}",
                "num_processes": 2, "process_id": pid}
        spec = {"corpus": str(corpus), "steps": [{
            "run": str(tmp_path / "run"), "weights": str(tmp_path / f"w{pid}.npz"),
            "opts": {**TINY, "backend": "jax", "epochs": 2, "distribute": dist}}]}
        (tmp_path / f"p{pid}.json").write_text(json.dumps(spec))
        env = _env("jax", GRUVSYNTH_WORKER_DIR=str(tmp_path / "workers"))
        procs.append(subprocess.Popen(
            [sys.executable, str(HELPER), str(tmp_path / f"p{pid}.json")], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=170)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(json.loads(stdout.splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [o["processes"] for o in outs] == [2, 2] and outs[0]["replicas"] == 2
    np.testing.assert_allclose(outs[0]["loss"], outs[1]["loss"], rtol=1e-6)
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for k in w0.files:
        np.testing.assert_allclose(w0[k], w1[k], rtol=1e-6, atol=1e-7)
    # only process 0 wrote the run folder; process 1 trained in its private copy
    assert (tmp_path / "run" / "model.keras").exists()
    assert (tmp_path / "workers" / "process-1" / "model.keras").exists()
    assert not list((tmp_path / "run").glob("*process-1*"))
