"""Run by tests/test_resident.py in a fresh JAX process: the resident feed against the streamed.

Usage: ``python tests/helpers/resident_check.py CORPUS_DIR OUT_DIR``.

Prints one JSON line with, for each case, the run histories and what versions.json recorded:

* ``lstm`` and ``peephole_lstm`` (the fused twin and a plain Keras model), trained with
  ``feed="stream"`` and ``feed="resident"`` (batch 2 and 3 steps per call, so that the epoch has
  a short last batch and a group of fewer than 3 steps);
* a resident run stopped after 2 epochs and resumed to 4, against 4 uninterrupted epochs;
* a ``precision="bfloat16"`` run (Keras's mixed_bfloat16) with the resident feed.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"


def main(corpus: str, out: str) -> int:
    from gruvsynth.training import open_run, resume, train

    common = dict(hidden=8, epochs=4, batch_size=2, checkpoint_every=2, progress=False,
                  steps_per_call=3)
    report = {}

    def record(name, run):
        run = open_run(run.path)
        session = run.versions["sessions"][-1]
        report[name] = {"history": run.history, "feed": session.get("feed"),
                        "precision": session.get("precision"),
                        "config_precision": run.config.get("precision")}

    for cell in ("lstm", "peephole_lstm"):
        for feed in ("stream", "resident"):
            record(f"{cell}-{feed}", train(corpus, f"{out}/{cell}-{feed}", cell=cell, feed=feed,
                                           **common))
    train(corpus, f"{out}/resumed", feed="resident", **{**common, "epochs": 2})
    record("resumed", resume(f"{out}/resumed", epochs=4, progress=False, feed="resident",
                             steps_per_call=3))
    run = train(corpus, f"{out}/bf16", feed="resident", precision="bfloat16", **common)
    record("bf16", run)
    model = open_run(run.path).load_model("final")
    report["bf16"]["compute_dtype"] = model.layers[1].compute_dtype
    report["bf16"]["variable_dtype"] = model.layers[1].variable_dtype
    import keras

    report["policy_after"] = keras.mixed_precision.global_policy().name
    report["backend"] = keras.backend.backend()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
