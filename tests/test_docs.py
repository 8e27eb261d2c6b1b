"""The documentation builds with Sphinx without a single warning (``make docs``)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.process
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    pytest.importorskip("numpydoc", reason="the docs extra is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(ROOT / "docs"),
         str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600,
    )
    warnings = [line for line in done.stderr.splitlines()
                if "WARNING" in line and "absl::InitializeLog" not in line]
    assert done.returncode == 0 and not warnings, done.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").is_file()
    assert "gruvsynth train" in (tmp_path / "html" / "cli.html").read_text()
