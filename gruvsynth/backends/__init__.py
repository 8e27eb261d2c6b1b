"""The one home of backend-specific code: choosing, seeding, determinism, versions.

Keras 3 runs on TensorFlow, JAX or PyTorch, and fixes its backend the first time ``keras`` is
imported (from the ``KERAS_BACKEND`` environment variable or ``~/.keras/keras.json``).  gruvsynth
therefore never imports Keras when ``gruvsynth`` or ``gruvsynth.cli`` is imported; a command
that needs Keras calls :func:`select_backend` first, which sets ``KERAS_BACKEND`` and only then
lets Keras be imported.

Everything else in the package uses ``keras`` and ``keras.ops`` only.  Code that must call a
backend's own API (TensorFlow's op determinism, a backend's version number) goes here or in
this package's submodules, and nowhere else: :mod:`gruvsynth.backends.jax` (data-parallel
meshes, the resident feed's compiled steps), :mod:`gruvsynth.backends.tensorflow` (the mirrored
strategy) and :mod:`gruvsynth.backends.torch` (whether a compiled training step is the default).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import platform
import sys

from gruvsynth.errors import GruvError, ParameterError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "BackendError",
    "select_backend",
    "current_backend",
    "keras_imported",
    "seed_everything",
    "enable_determinism",
    "versions",
    "PRECISIONS",
    "accelerator",
    "resolve_precision",
    "precision_scope",
    "reset_peak_memory",
    "peak_memory",
    "TENSORFLOW_CPU_CHATTER",
    "nvidia_driver_present",
    "filtered_native_stderr",
    "TENSORFLOW_RETRACING_WARNING",
    "quiet_retracing_warnings",
]

#: The Keras backends gruvsynth supports.
BACKENDS = ("tensorflow", "jax", "torch")

#: The backend used when neither ``backend=`` nor ``KERAS_BACKEND`` names one.
DEFAULT_BACKEND = "tensorflow"


class BackendError(GruvError):
    """A Keras backend was asked for that is unknown, not installed, or not the one in use."""


def keras_imported() -> bool:
    """Whether ``keras`` has already been imported in this process (its backend is then fixed)."""
    return "keras" in sys.modules


def current_backend() -> str | None:
    """The backend of the imported Keras, or ``None`` if Keras is not imported yet."""
    if not keras_imported():
        return None
    import keras

    return keras.backend.backend()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise ParameterError(
            f"unknown Keras backend {name!r}; choose one of {', '.join(BACKENDS)}"
        )
    return name.strip().lower()


def select_backend(name: str | None = None) -> str:
    """Choose the Keras backend, before Keras is imported, and return its name.

    Parameters
    ----------
    name : {"tensorflow", "jax", "torch"} or None
        The backend wanted.  ``None`` means: the ``KERAS_BACKEND`` environment variable if set,
        else the backend of an already imported Keras, else :data:`DEFAULT_BACKEND`.

    Returns
    -------
    backend : str
        The backend Keras uses (or will use once imported).

    Raises
    ------
    ParameterError
        ``name`` (or ``KERAS_BACKEND``) is not one of :data:`BACKENDS`.
    BackendError
        Keras was already imported with a different backend (it cannot be switched inside a
        running process), or the backend's package is not installed.
    """
    requested = name if name is not None else os.environ.get("KERAS_BACKEND") or None
    if requested is not None:
        requested = _check_name(requested)
    loaded = current_backend()
    if loaded is not None:
        if requested is not None and requested != loaded:
            raise BackendError(
                f"Keras was already imported with the {loaded!r} backend, so {requested!r} "
                f"cannot be used in this process; start a new process with "
                f"KERAS_BACKEND={requested} (or --backend {requested})"
            )
        return loaded
    chosen = requested or DEFAULT_BACKEND
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[chosen]
    if importlib.util.find_spec(module) is None:
        raise BackendError(
            f"the {chosen!r} Keras backend needs the {module!r} package, which is not installed"
        )
    os.environ["KERAS_BACKEND"] = chosen
    if chosen == "tensorflow":
        # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is not for users.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # TensorFlow enables its oneDNN CPU kernels by default only on CPUs with AVX-512; on
        # others its default kernels are up to 15x slower for the transposed matrix products
        # of backpropagation (docs/performance.rst).  TF_ENABLE_ONEDNN_OPTS=0 restores them.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        quiet_retracing_warnings()
        _start_tensorflow_quietly()
    return chosen


#: Lines TensorFlow's C++ start-up writes on a machine without an NVIDIA driver, where they
#: say nothing but "no GPU here" (one of them, ``E0000 ... failed call to cuInit``, looks like
#: an error).  ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them: they are logged before TensorFlow
#: reads it.
TENSORFLOW_CPU_CHATTER = (
    "All log messages before absl::InitializeLog() is called",
    "cudart_stub.cc",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation_placer.cc",
    "oneDNN custom operations are on",
    "TF-TRT Warning: Could not find TensorRT",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
)


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver loaded (``/proc/driver/nvidia/version``)."""
    return os.path.exists("/proc/driver/nvidia/version")


@contextlib.contextmanager
def filtered_native_stderr(drop: tuple[str, ...]):
    """Send what native code writes to file descriptor 2 through a filter while inside.

    Lines containing one of ``drop`` are discarded; every other line (Python's own warnings
    and errors included) is written to ``sys.stderr`` when the block ends, in order.  Native
    libraries write to the descriptor, not to ``sys.stderr``, so only this can keep their
    start-up lines off a user's screen.

    Parameters
    ----------
    drop : tuple of str
        Substrings of the lines to discard.
    """
    import tempfile

    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines()
                    if line.strip() and not any(d in line for d in drop)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


#: What TensorFlow's frequent-tracing warning says ("5 out of the last 84 calls to <function
#: ...> triggered tf.function retracing. Tracing is expensive ...").  TensorFlow counts the
#: traces of every function made from the same Python code together, so Keras's predict
#: function of each newly loaded model adds one: a reproduction that evaluates and generates
#: from one run after another sets it off, although each model's functions are traced once
#: (checked with ``experimental_get_tracing_count``).
TENSORFLOW_RETRACING_WARNING = "triggered tf.function retracing"


def _verbose() -> bool:
    """Whether the ``gruvsynth`` logger is at DEBUG (``-v``): then TensorFlow's lines all show."""
    return logging.getLogger("gruvsynth").isEnabledFor(logging.DEBUG)


class _DropRetracingWarning(logging.Filter):
    """Drops :data:`TENSORFLOW_RETRACING_WARNING` records unless the ``gruvsynth`` logger is at
    DEBUG (``-v``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _verbose() or TENSORFLOW_RETRACING_WARNING not in record.getMessage()


def quiet_retracing_warnings() -> None:
    """Keep TensorFlow's frequent-tracing warning (:data:`TENSORFLOW_RETRACING_WARNING`) off
    the screen, except with the ``gruvsynth`` logger at DEBUG (``-v``); every other record of
    the ``tensorflow`` logger passes.  Idempotent; :func:`select_backend` calls it for
    TensorFlow."""
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropRetracingWarning) for f in tf_logger.filters):
        tf_logger.addFilter(_DropRetracingWarning())


def _start_tensorflow_quietly() -> None:
    """Import Keras on TensorFlow, and let TensorFlow probe for GPUs, with the probe's lines
    (:data:`TENSORFLOW_CPU_CHATTER`) kept off the screen — only where no NVIDIA driver is
    loaded, so that on a GPU machine every line of TensorFlow's still shows.  With the
    ``gruvsynth`` logger at DEBUG (``-v``) nothing is filtered."""
    if keras_imported() or nvidia_driver_present() or _verbose():
        return
    with filtered_native_stderr(TENSORFLOW_CPU_CHATTER):
        import keras  # noqa: F401  (imports TensorFlow)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe now, rather than at the first op


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and the backend's random generators (``keras.utils.set_random_seed``).

    Parameters
    ----------
    seed : int
        The seed; the same seed gives the same initial weights on the same backend.
    """
    import keras

    keras.utils.set_random_seed(int(seed))


def enable_determinism() -> None:
    """Make the backend's kernels deterministic, so a run can be repeated bit for bit on a CPU.

    TensorFlow: ``tf.config.experimental.enable_op_determinism()`` (process-wide and not
    reversible).  JAX and PyTorch on CPU are deterministic already; on GPUs JAX needs
    ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` set before it starts, which is left to the
    user because it costs speed.
    """
    backend = current_backend()
    if backend is None:
        raise BackendError("enable_determinism() needs Keras imported; call select_backend() first")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def versions() -> dict:
    """Versions of everything a trained model's numbers depend on.

    Returns
    -------
    versions : dict
        ``gruvsynth``, ``keras``, ``backend`` (name), ``backend_version``, ``python``,
        ``numpy``, ``h5py``, ``platform`` and ``devices`` (what the backend computes on).
    """
    import h5py
    import keras
    import numpy as np

    from gruvsynth import __version__

    backend = keras.backend.backend()
    module = importlib.import_module({"tensorflow": "tensorflow", "jax": "jax",
                                      "torch": "torch"}.get(backend, backend))
    return {
        "gruvsynth": __version__,
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": getattr(module, "__version__", "unknown"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "platform": platform.platform(),
        "devices": _devices(backend),
    }


def _devices(backend: str) -> list[str]:
    """Names of the devices the backend computes on (best effort; never raises)."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_logical_devices()]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices()]
        if backend == "torch":
            import torch

            out = ["cpu"]
            if torch.cuda.is_available():
                out += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return out
    except Exception:  # a version record must never stop training
        pass
    return []


# ---------------------------------------------------------------------------------------------
# accelerators and numeric precision

#: Values of the ``precision`` training option (see :func:`resolve_precision`).
PRECISIONS = ("auto", "float32", "tf32", "bfloat16")

#: What ``precision="auto"`` means on a GPU (measured: ``docs/performance.rst``).
GPU_PRECISION = "tf32"


def accelerator() -> str:
    """``"gpu"`` if the imported Keras backend computes on a GPU (or TPU), else ``"cpu"``."""
    backend = current_backend()
    try:
        if backend == "jax":
            import jax

            return "cpu" if jax.default_backend() == "cpu" else "gpu"
        if backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
        if backend == "torch":
            import torch

            return "gpu" if torch.cuda.is_available() else "cpu"
    except Exception:  # asking must never stop training
        pass
    return "cpu"


def resolve_precision(precision: str = "auto") -> str:
    """The precision a training session uses: ``"auto"`` resolved for the device.

    ``"float32"``: float32 weights and arithmetic, matrix products included (JAX's
    ``highest`` matrix-product precision, TensorFlow's and PyTorch's TF32 off): the paper's
    arithmetic.  ``"tf32"``: float32 weights and element-wise arithmetic, matrix products on a
    GPU's TF32 tensor cores (10-bit mantissa inputs, float32 sums; what JAX, TensorFlow and
    cuDNN do by default on NVIDIA GPUs); on a CPU the same as float32.  ``"bfloat16"``: Keras's
    ``mixed_bfloat16`` policy (float32 weights and optimizer, bfloat16 layer arithmetic, loss in
    float32).  ``"auto"``: ``"float32"`` on a CPU, :data:`GPU_PRECISION` on a GPU.

    Parameters
    ----------
    precision : {"auto", "float32", "tf32", "bfloat16"}

    Returns
    -------
    precision : {"float32", "tf32", "bfloat16"}
    """
    if precision not in PRECISIONS:
        raise ParameterError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return GPU_PRECISION if accelerator() == "gpu" else "float32"


@contextlib.contextmanager
def precision_scope(precision: str):
    """Compute in ``precision`` (resolved, see :func:`resolve_precision`) inside the block.

    Sets Keras's global dtype policy (models built inside get it; ``"mixed_bfloat16"`` for
    ``"bfloat16"``, else ``"float32"``) and the backend's float32 matrix-product precision;
    restores both on leaving.
    """
    import keras

    precision = resolve_precision(precision)
    backend = keras.backend.backend()
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if precision == "bfloat16" else "float32")
    tf32 = precision != "float32"
    with contextlib.ExitStack() as stack:
        if backend == "jax":
            import jax

            stack.enter_context(jax.default_matmul_precision(
                {"float32": "highest", "tf32": "tensorfloat32"}.get(precision, "default")))
        elif backend == "tensorflow":
            import tensorflow as tf

            old = tf.config.experimental.tensor_float_32_execution_enabled()
            tf.config.experimental.enable_tensor_float_32_execution(tf32)
            stack.callback(tf.config.experimental.enable_tensor_float_32_execution, old)
        elif backend == "torch":
            import torch

            old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32

            def restore():
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old

            stack.callback(restore)
        try:
            yield precision
        finally:
            keras.mixed_precision.set_global_policy(policy)


# ---------------------------------------------------------------------------------------------
# peak memory: the process's resident set and the accelerator's


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_memory() -> bool:
    """Start measuring peak memory afresh (see :func:`peak_memory`).

    Resets the process's resident high-water mark (Linux: ``5`` written to
    ``/proc/self/clear_refs``) and, on a GPU, the backend's peak device memory where it can
    (TensorFlow, PyTorch; JAX's peak only grows).

    Returns
    -------
    bool
        Whether the host figure was reset (otherwise :func:`peak_memory`'s ``rss_bytes`` is the
        peak since the process started).
    """
    reset = False
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        reset = True
    except OSError:
        pass
    if accelerator() != "gpu":
        return reset
    backend = current_backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            for device in tf.config.list_logical_devices("GPU"):
                tf.config.experimental.reset_memory_stats(device.name)
        elif backend == "torch":
            import torch

            torch.cuda.reset_peak_memory_stats()
    except Exception:  # measuring must never stop the work
        pass
    return reset


def peak_memory() -> dict:
    """Peak memory since :func:`reset_peak_memory` (or since the process started).

    Returns
    -------
    dict
        ``rss_bytes``: the process's peak resident set (``VmHWM``; else ``ru_maxrss``);
        ``children_rss_bytes``: the largest peak of any finished child process
        (``ru_maxrss`` of ``RUSAGE_CHILDREN``: since the process started);
        ``device_bytes``: the backend's peak memory on its first GPU, or None on a CPU or when
        the backend cannot say.
    """
    import resource

    hwm = _status_kib("VmHWM")
    rss = hwm * 1024 if hwm is not None else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"rss_bytes": rss,
           "children_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
           "device_bytes": None}
    if accelerator() != "gpu":
        return out
    backend = current_backend()
    try:
        if backend == "jax":
            import jax

            stats = jax.local_devices()[0].memory_stats() or {}
            out["device_bytes"] = stats.get("peak_bytes_in_use")
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_logical_devices("GPU")
            if gpus:
                out["device_bytes"] = tf.config.experimental.get_memory_info(gpus[0].name)["peak"]
        elif backend == "torch":
            import torch

            out["device_bytes"] = torch.cuda.max_memory_allocated()
    except Exception:  # measuring must never stop the work
        pass
    return out
