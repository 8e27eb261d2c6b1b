"""Build a results folder's report: ``claims.md``, ``claims.json`` and ``index.html``.

:func:`build_report` reads the folder (:func:`~gruvsynth.reproduction.results.collect`),
judges the claims (:func:`~gruvsynth.reproduction.claims.compute_claims`) and writes the
Markdown and the page (:mod:`gruvsynth.reproduction.render`) through :mod:`gruvsynth.fileio`.
"""

from __future__ import annotations

from pathlib import Path

from gruvsynth.errors import GruvError
from gruvsynth.fileio import write_json_atomic, write_text_atomic
from gruvsynth.reproduction.claims import compute_claims, findings
from gruvsynth.reproduction.render import claims_markdown, render_page
from gruvsynth.reproduction.results import (
    CLAIMS_JSON,
    CLAIMS_MD,
    DATA_FILES,
    DRY_RUN,
    PAGE,
    RAW_KEYS,
    collect,
)
from gruvsynth.reproduction.rules import GATE_RULE, TALLY_RULE, VERDICTS

__all__ = ["build_report"]


def build_report(out_dir) -> dict:
    """Compute the claims of a results folder and write ``claims.md``, ``claims.json`` and
    ``index.html`` into it.

    Parameters
    ----------
    out_dir : str or os.PathLike
        A results folder written by the experiment scripts.

    Returns
    -------
    dict
        ``claims`` (the rows), ``claims_md``, ``claims_json`` and ``page`` (paths).

    Raises
    ------
    GruvError
        The folder does not exist or is a file, one of its JSON files is unreadable or of
        the wrong shape, or it holds none of the data files (nothing to judge).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GruvError(f"{out}: is a file, not a results folder (give the folder the "
                        "experiment scripts wrote, e.g. results/quick)")
    if not out.is_dir():
        raise GruvError(f"{out}: no such results folder")
    data = collect(out)
    if all(data[key] is None for key in RAW_KEYS):
        raise GruvError(
            f"{out}: no results data found (none of {', '.join(DATA_FILES)}); run the "
            "experiment scripts (experiments/reproduce.py) into it first")
    claims = compute_claims(data)
    profile = (data.get("reproduction") or {}).get("profile") or out.name
    md = write_text_atomic(out / CLAIMS_MD, claims_markdown(
        claims, title=f"Claims of the paper — profile {profile}",
        baselines=data.get("baselines"), dry_run=data.get(DRY_RUN)))
    js = write_json_atomic(out / CLAIMS_JSON, {
        "profile": profile, DRY_RUN: data.get(DRY_RUN), "claims": claims,
        "baselines": data.get("baselines") or {}, "findings": findings(claims),
        "verdicts": list(VERDICTS), "tally_rule": TALLY_RULE, "gate_rule": GATE_RULE},
        clean=True)
    page = write_text_atomic(out / PAGE, render_page(out, claims, data))
    return {"claims": claims, "claims_md": md, "claims_json": js, "page": page}
