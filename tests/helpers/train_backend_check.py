"""Run by tests/test_train_cli.py in a fresh process: train every cell on one Keras backend.

Usage: ``python tests/helpers/train_backend_check.py BACKEND CORPUS_DIR OUT_DIR``.

For each cell in :data:`CELLS` it runs ``gruvsynth train CORPUS_DIR -o OUT_DIR/<cell> --backend
BACKEND --cell <cell> ...`` (through the command's ``main``, as a user would), then opens the
run, loads the final model and the last checkpoint in safe mode, and prints one JSON line per
cell with what the test checks: the backend Keras ran on, the history, whether the two files
give the same predictions, and the model's cell.  The backend must not be imported before the
command chooses it, which is why this is a separate process.
"""

from __future__ import annotations

import json
import sys

CELLS = ("lstm", "gru", "keras01_lstm", "keras01_gru", "peephole_lstm", "paper_gru")
#: The authors' Keras 0.1 cells train with the Keras 0.1 recipe, as the reproduction does.
RECIPES = {"keras01_lstm": "keras01", "keras01_gru": "keras01"}


def main(backend: str, corpus: str, out: str) -> int:
    from gruvsynth.commands.train import main as train_main

    for cell in CELLS:
        argv = [corpus, "-o", f"{out}/{cell}", "--backend", backend, "--cell", cell,
                "--hidden", "8", "--epochs", "2", "--checkpoint-every", "1", "--quiet",
                "--recipe", RECIPES.get(cell, "keras3")]
        status = train_main(argv)
        if status != 0:
            print(json.dumps({"cell": cell, "status": status}), flush=True)
            continue
        import keras
        import numpy as np

        from gruvsynth.training import open_run

        run = open_run(f"{out}/{cell}")
        final = run.load_model("final")
        first = run.load_model(run.checkpoints()[0])
        x = np.asarray(run.corpus.clips("train")[0][:5])
        same = bool(np.array_equal(np.asarray(final.predict_on_batch(x)),
                                   np.asarray(run.load_model("latest").predict_on_batch(x))))
        moved = not np.array_equal(np.asarray(final.predict_on_batch(x)),
                                   np.asarray(first.predict_on_batch(x)))
        rnn = final.get_layer("rnn_1")
        print(json.dumps({
            "cell": cell, "status": status, "keras_backend": keras.backend.backend(),
            "config_backend": run.config["backend"], "versions_backend": run.versions["backend"],
            "history": run.history, "final_equals_latest": same, "epoch2_differs_from_1": moved,
            "cell_class": type(rnn.cell).__name__ if hasattr(rnn, "cell") else type(rnn).__name__,
            "optimizer_iterations": int(np.asarray(final.optimizer.iterations)),
            "recipe": run.config["recipe"], "epsilon": float(final.optimizer.epsilon),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
