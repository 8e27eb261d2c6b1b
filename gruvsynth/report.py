"""The reproduction's results: the claims table with computed verdicts, and the HTML page.

The former home of the reproduction's report, kept so that ``from gruvsynth.report import
build_report`` and every other public name of it keep working: the code now lives in the
package :mod:`gruvsynth.reproduction`, one module per job: :mod:`~gruvsynth.reproduction.results`
(the results-folder layout, the files' shapes, :func:`collect`, the cell families),
:mod:`~gruvsynth.reproduction.measures` (final losses, overfitting, replicates, odds),
:mod:`~gruvsynth.reproduction.rules` (the scaffold of every check, the gate and the tally),
:mod:`~gruvsynth.reproduction.claims` (the seven claims, :func:`compute_claims`),
:mod:`~gruvsynth.reproduction.render` (Markdown and the page),
:mod:`~gruvsynth.reproduction.build` (:func:`build_report`) and
:mod:`~gruvsynth.reproduction.browser` (:func:`check_page` in headless Chromium).  The file
writers are :mod:`gruvsynth.fileio`'s; :func:`write_text`, :func:`write_json`,
:func:`write_csv` and :func:`read_json` stay here as its functions or one-line wrappers.
"""

from __future__ import annotations

from pathlib import Path

from gruvsynth.errors import GruvError as GruvError
from gruvsynth.fileio import read_json as _read_json
from gruvsynth.fileio import write_csv_atomic as write_csv
from gruvsynth.fileio import write_json_atomic as _write_json_atomic
from gruvsynth.fileio import write_text_atomic as write_text
from gruvsynth.reproduction.browser import (
    BROWSER_FLAGS,
    BrowserError,
    check_page,
    find_browser,
)
from gruvsynth.reproduction.build import (
    build_report,
)
from gruvsynth.reproduction.claims import (
    BAND_MARGIN,
    CLAIM_IDS,
    CLAIMS,
    DEPTH_MARGIN,
    LOOP_CELLS,
    LOOP_COMMON,
    LOOP_FREE_TIMES,
    LOOP_RARE,
    SLIGHT_MAX,
    compute_claims,
    findings,
    verdict_c1,
    verdict_c2,
    verdict_c3,
    verdict_c4,
    verdict_c5,
    verdict_c6,
    verdict_c7,
)
from gruvsynth.reproduction.measures import (
    LEARN_MARGIN,
    OVERFIT_RISE,
    SMOOTH_FRACTION,
    final_value,
    learned,
    log_odds,
    overfit_epoch,
    replicates,
    separated,
    white_noise_flatness,
)
from gruvsynth.reproduction.render import (
    SAMPLE_PROTOCOLS,
    baselines_markdown,
    claims_markdown,
    render_page,
)
from gruvsynth.reproduction.results import (
    ANY,
    BASELINES_JSON,
    CELL_ROLES,
    CLAIMS_JSON,
    CLAIMS_MD,
    DEFAULT_FAMILIES,
    DEPTH,
    DRY_RUN,
    DRY_RUN_BANNER,
    ELECTRONIC_CORPUS,
    FAMILY_ORDER,
    FIG1,
    FIG2,
    FIG3,
    FIGURES_DIR,
    GENERATED_AUDIO,
    GENERATION_LENGTH,
    GRU,
    INTEGER,
    LSTM,
    NUMBER,
    PAGE,
    REPRODUCTION_JSON,
    RUNS_DIR,
    SAMPLES_DIR,
    SAMPLES_JSON,
    SCHEMAS,
    SCREENSHOT,
    STRING,
    VARIED_CORPUS,
    check_shape,
    collect,
    describe_dry_run,
    dry_run_in,
    families_in,
    family_data,
    safe_link,
)
from gruvsynth.reproduction.rules import (
    DID_NOT_LEARN,
    GATE_RULE,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    SPREAD_RULE,
    TALLY_RULE,
    VERDICTS,
    tally,
)

__all__ = [
    "REPRODUCED",
    "NOT_REPRODUCED",
    "INCONCLUSIVE",
    "VERDICTS",
    "DRY_RUN",
    "DRY_RUN_BANNER",
    "dry_run_in",
    "describe_dry_run",
    "CLAIM_IDS",
    "BrowserError",
    "write_json",
    "write_text",
    "write_csv",
    "read_json",
    "SCHEMAS",
    "check_shape",
    "safe_link",
    "final_value",
    "overfit_epoch",
    "tally",
    "verdict_c1",
    "verdict_c2",
    "verdict_c3",
    "verdict_c4",
    "verdict_c5",
    "verdict_c6",
    "verdict_c7",
    "learned",
    "families_in",
    "family_data",
    "findings",
    "baselines_markdown",
    "LEARN_MARGIN",
    "GATE_RULE",
    "BASELINES_JSON",
    "white_noise_flatness",
    "log_odds",
    "separated",
    "replicates",
    "SPREAD_RULE",
    "collect",
    "compute_claims",
    "claims_markdown",
    "render_page",
    "build_report",
    "find_browser",
    "check_page",
    "FIGURES_DIR",
    "SAMPLES_DIR",
    "RUNS_DIR",
    "FIG1",
    "FIG2",
    "FIG3",
    "GENERATED_AUDIO",
    "GENERATION_LENGTH",
    "DEPTH",
    "SAMPLES_JSON",
    "REPRODUCTION_JSON",
    "CLAIMS_MD",
    "CLAIMS_JSON",
    "PAGE",
    "SCREENSHOT",
    "VARIED_CORPUS",
    "ELECTRONIC_CORPUS",
    "LSTM",
    "GRU",
    "SMOOTH_FRACTION",
    "SLIGHT_MAX",
    "OVERFIT_RISE",
    "BAND_MARGIN",
    "LOOP_FREE_TIMES",
    "LOOP_RARE",
    "LOOP_COMMON",
    "LOOP_CELLS",
    "DEPTH_MARGIN",
    "DID_NOT_LEARN",
    "FAMILY_ORDER",
    "DEFAULT_FAMILIES",
    "CELL_ROLES",
    "TALLY_RULE",
    "NUMBER",
    "STRING",
    "INTEGER",
    "ANY",
    "CLAIMS",
    "SAMPLE_PROTOCOLS",
    "BROWSER_FLAGS",
]


def write_json(path, data) -> Path:
    """Write ``data`` as indented JSON, atomically; NaN and infinities become ``null``
    (:func:`gruvsynth.fileio.write_json_atomic` with ``clean=True``).

    Parameters
    ----------
    path : str or os.PathLike
    data : dict or list

    Returns
    -------
    pathlib.Path
    """
    return _write_json_atomic(path, data, clean=True)


def read_json(path):
    """Read a results file; ``None`` if it does not exist (:func:`gruvsynth.fileio.read_json`).

    Raises
    ------
    GruvError
        The file exists but is not valid JSON ("<path>: unreadable results file (...)").
    """
    return _read_json(path, "results file", missing_ok=True)
