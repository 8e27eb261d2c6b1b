"""The reproduction's report: reading a results folder, judging the paper's seven claims, and
writing the claims table and the HTML page.

One module per job, and data flows one way (each imports only those before it):

- :mod:`~gruvsynth.reproduction.measures`: final losses, overfitting, replicates, odds, the
  learned gate's measure;
- :mod:`~gruvsynth.reproduction.results`: the results-folder layout, the shapes of its JSON
  files, :func:`~gruvsynth.reproduction.results.collect`, the cell families;
- :mod:`~gruvsynth.reproduction.rules`: the scaffold every claim's checks are written on
  (outcomes, comparisons, the gate, the tally, the claim row);
- :mod:`~gruvsynth.reproduction.claims`: the seven claims and
  :func:`~gruvsynth.reproduction.claims.compute_claims`;
- :mod:`~gruvsynth.reproduction.render`: ``claims.md`` and the page;
- :mod:`~gruvsynth.reproduction.build`: :func:`~gruvsynth.reproduction.build.build_report`;
- :mod:`~gruvsynth.reproduction.browser`: the page check in headless Chromium.

:mod:`gruvsynth.report` re-exports all of their public names under its old path.
"""
