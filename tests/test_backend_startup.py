"""TensorFlow's start-up lines on a machine without a GPU, and its frequent-tracing warning,
stay off the user's screen; every other line written to standard error still shows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gruvsynth import backend

CHATTER = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
           "STDERR\n"
           "E0000 00:00:1796143830.441905 27810 cuda_platform.cc:52] failed call to cuInit: "
           "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")


def test_the_filter_drops_only_the_named_lines_and_keeps_their_order(capfd):
    with backend.filtered_native_stderr(backend.TENSORFLOW_CPU_CHATTER):
        os.write(2, b"native line one\n")
        os.write(2, CHATTER.encode())
        print("python line two", file=sys.stderr)
        os.write(2, b"native line three\n")
    err = capfd.readouterr().err
    assert "cuInit" not in err and "absl::InitializeLog" not in err
    assert err.index("native line one") < err.index("native line three")
    assert "python line two" in err  # (pytest takes sys.stderr itself, before the descriptor)


def test_the_filter_restores_stderr_when_the_block_raises(capfd):
    with pytest.raises(RuntimeError, match="boom"):
        with backend.filtered_native_stderr(("drop me",)):
            os.write(2, b"drop me\nkept before the error\n")
            raise RuntimeError("boom")
    os.write(2, b"after the block\n")
    err = capfd.readouterr().err
    assert "kept before the error" in err and "after the block" in err
    assert "drop me" not in err


@pytest.mark.slow
@pytest.mark.process
@pytest.mark.skipif(backend.nvidia_driver_present(),
                    reason="an NVIDIA driver is loaded: TensorFlow's lines are shown in full")
def test_a_cpu_machine_prints_no_tensorflow_probe_errors():
    code = ("from gruvsynth.backend import select_backend\n"
            "select_backend('tensorflow')\n"
            "import keras\n"
            "print(float(keras.ops.sum(keras.ops.ones(3))))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "3.0"
    assert done.stderr.strip() == "", done.stderr
    verbose = ("import logging\nlogging.getLogger('gruvsynth').setLevel(logging.DEBUG)\n"
               + code)
    shown = subprocess.run([sys.executable, "-c", verbose], env=env, capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0 and shown.stdout.strip() == "3.0"
    assert "absl::InitializeLog" in shown.stderr  # -v shows TensorFlow's own lines


def _trace_fresh_functions(tf, code, n: int = 6) -> None:
    """``n`` new tf.functions from one piece of Python code, each traced once: what loading one
    model after another does to Keras's predict function.  (TensorFlow counts per code object,
    and warns at most five times for each.)"""
    for _ in range(n):
        tf.function(code)(tf.constant([1.0]))


def _double(x):
    return 2 * x


def _triple(x):
    return 3 * x


def test_tensorflows_retracing_warning_is_kept_off_the_screen_except_with_v():
    if backend.current_backend() not in (None, "tensorflow"):
        pytest.skip("needs the tensorflow backend in this process")
    import logging

    import tensorflow as tf

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    tf_logger, ours = logging.getLogger("tensorflow"), logging.getLogger("gruvsynth")
    handler, level = Keep(), ours.level
    tf_logger.addHandler(handler)
    try:
        backend.quiet_retracing_warnings()
        backend.quiet_retracing_warnings()  # idempotent: one filter
        assert sum(type(f).__name__ == "_DropRetracingWarning" for f in tf_logger.filters) == 1
        ours.setLevel(logging.DEBUG)  # -v: TensorFlow's warning is shown (so it is emitted here)
        _trace_fresh_functions(tf, _double)
        assert any(backend.TENSORFLOW_RETRACING_WARNING in m for m in seen), seen
        seen.clear()
        ours.setLevel(logging.WARNING)  # the default: not shown; other records still are
        _trace_fresh_functions(tf, _triple)
        tf_logger.warning("another TensorFlow warning")
        assert seen == ["another TensorFlow warning"]
    finally:
        tf_logger.removeHandler(handler)
        ours.setLevel(level)
