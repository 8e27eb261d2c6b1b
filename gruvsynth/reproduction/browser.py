"""The page check: open a results page in headless Chromium and check that every image and
audio element loads.

:func:`check_page` writes a copy of the page with a small probe script (:data:`PROBE`) beside
it, loads it with ``--dump-dom`` and reads back the state of every ``<img>`` and ``<audio>``;
it also checks the page's links statically and, when asked, saves a screenshot (written
through :func:`gruvsynth.fileio.atomic_path`: Chromium writes the temporary file).
:func:`find_browser` finds the Chromium executable.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from gruvsynth.errors import GruvError
from gruvsynth.fileio import atomic_path, write_text_atomic

__all__ = [
    "BrowserError",
    "BROWSER_FLAGS",
    "PROBE",
    "find_browser",
    "check_page",
]


class BrowserError(GruvError):
    """No headless Chromium to check the page with, or it failed to run."""


#: Chromium flags for a quiet, offline, throw-away headless session.
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--mute-audio",
                 "--hide-scrollbars")
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_PROBE_ID = "gruvsynth-page-check"
#: The probe script added to a copy of the page (``%(id)s``, ``%(timeout_ms)d``).
PROBE = """
<pre id="%(id)s">pending</pre>
<script>
(function () {
  function done() {
    var imgs = Array.prototype.map.call(document.images, function (i) {
      return {src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
              width: i.naturalWidth};
    });
    var auds = Array.prototype.map.call(document.querySelectorAll('audio'), function (a) {
      return {src: a.getAttribute('src'), readyState: a.readyState,
              error: a.error ? a.error.code : null,
              duration: isFinite(a.duration) ? a.duration : null};
    });
    document.getElementById('%(id)s').textContent = JSON.stringify(
      {images: imgs, audio: auds, height: document.documentElement.scrollHeight});
  }
  function wait(el, events) {
    return new Promise(function (resolve) {
      events.forEach(function (e) { el.addEventListener(e, resolve, {once: true}); });
    });
  }
  var pending = [];
  Array.prototype.forEach.call(document.querySelectorAll('audio'), function (a) {
    a.preload = 'auto';
    if (a.readyState < 1 && !a.error) { pending.push(wait(a, ['loadedmetadata', 'error'])); a.load(); }
  });
  Array.prototype.forEach.call(document.images, function (i) {
    if (!i.complete) pending.push(wait(i, ['load', 'error']));
  });
  var timeout = new Promise(function (resolve) { setTimeout(resolve, %(timeout_ms)d); });
  Promise.race([Promise.all(pending), timeout]).then(done);
})();
</script>
"""


def find_browser() -> str | None:
    """The path of a Chromium (or Chrome) executable on ``PATH``, or ``None``."""
    env = os.environ.get("GRUVSYNTH_BROWSER")
    if env:
        return env
    for name in _BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _static_links(page: Path, text: str) -> list[str]:
    """Problems with the page's links: absolute URLs (network) and missing local files."""
    problems = []
    for attr, target in re.findall(r'\b(src|href)="([^"]*)"', text):
        target = html.unescape(target)
        if target.startswith("#") or not target:
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            problems.append(f"{attr}={target!r} is not a relative link")
            continue
        local = page.parent / target.split("#")[0]
        if not local.exists():
            problems.append(f"{attr}={target!r}: no such file")
    return problems


def _run_browser(exe: str, args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="gruvsynth-chromium-")
    try:
        try:
            return subprocess.run([exe, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args],
                                  capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"{exe}: no answer within {timeout:g} s") from None
        except OSError as exc:
            raise BrowserError(f"{exe}: cannot run the browser ({exc})") from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _probe(page: Path, text: str, exe: str, *, timeout: float) -> dict:
    """Load a copy of the page with the probe in the browser; the probe's state of every image
    and audio element (and the page's height)."""
    probe_ms = int(max(5.0, timeout / 3) * 1000)
    probe_html = PROBE % {"id": _PROBE_ID, "timeout_ms": probe_ms}
    probed = text.replace("</body>", probe_html + "</body>") if "</body>" in text \
        else text + probe_html
    probe = page.with_name(f".{page.stem}.check-{os.getpid()}.html")  # beside it: same links
    try:
        write_text_atomic(probe, probed)
        done = _run_browser(exe, [f"--virtual-time-budget={probe_ms + 5000}", "--dump-dom",
                                  probe.as_uri()], timeout=timeout)
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()
    match = re.search(rf'<pre id="{_PROBE_ID}">(.*?)</pre>', done.stdout, re.S)
    if match is None:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise BrowserError(f"{exe}: the page check gave no result (exit {done.returncode}; "
                           f"{tail[0][:200]})")
    raw = html.unescape(match.group(1))
    if raw == "pending":
        raise BrowserError(f"{page}: the page check did not finish in the browser")
    return json.loads(raw)


def _element_problems(state: dict) -> list[str]:
    """The images that did not load and the audio elements that cannot be played."""
    problems = []
    for img in state["images"]:
        if not img["loaded"]:
            problems.append(f"image {img['src']!r} did not load")
    for a in state["audio"]:
        if a["error"] is not None or a["readyState"] < 1:
            problems.append(f"audio {a['src']!r} cannot be played (readyState {a['readyState']}, "
                            f"error {a['error']})")
    return problems


def _screenshot(exe: str, page: Path, shot: Path, *, width: int, height: int,
                timeout: float) -> None:
    """A PNG screenshot of the page, written atomically (Chromium writes the temporary file)."""
    with atomic_path(shot) as tmp:
        _run_browser(exe, [f"--screenshot={tmp}", f"--window-size={width},{height}",
                           page.as_uri()], timeout=timeout)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise BrowserError(f"{exe}: no screenshot written")


def check_page(page, *, screenshot=None, browser: str | None = None, timeout: float = 120.0,
               width: int = 1280, max_height: int = 12000) -> dict:
    """Open a page in headless Chromium and check that every image and audio element loaded.

    A copy of the page with a small probe script is written beside it (so relative links
    resolve the same) and loaded with ``--dump-dom``; the probe waits for every ``<img>`` and
    ``<audio>`` and writes their state into the DOM.  An image passes when it is complete with
    ``naturalWidth > 0``; an audio element when it has no error and ``readyState >= 1`` (its
    metadata loaded).  The page's links are also checked: all relative, all to existing files.

    Parameters
    ----------
    page : str or os.PathLike
        The HTML file.
    screenshot : str or os.PathLike, optional
        Where to save a PNG screenshot of the whole page (up to ``max_height`` pixels).
    browser : str, optional
        The Chromium executable (default :func:`find_browser`).
    timeout : float
        Seconds allowed for each browser run.
    width, max_height : int
        Screenshot size in pixels.

    Returns
    -------
    dict
        ``ok`` (bool), ``problems`` (list of str), ``images`` and ``audio`` (per element: its
        ``src`` and state), ``screenshot`` (path or ``None``).

    Raises
    ------
    BrowserError
        No browser found, or it failed or gave no result.
    """
    page = Path(page).resolve()
    if not page.is_file():
        raise GruvError(f"{page}: no such page")
    exe = browser or find_browser()
    if exe is None:
        raise BrowserError("no Chromium found (install Debian's `chromium` package, or set "
                           "GRUVSYNTH_BROWSER to a Chrome/Chromium executable)")
    text = page.read_text(encoding="utf-8")
    problems = _static_links(page, text)
    state = _probe(page, text, exe, timeout=timeout)
    problems += _element_problems(state)
    shot = None
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        height = int(min(max(int(state.get("height") or 2000), 600), max_height))
        _screenshot(exe, page, shot, width=width, height=height, timeout=timeout)
    return {"ok": not problems, "problems": problems, "images": state["images"],
            "audio": state["audio"], "screenshot": None if shot is None else os.fspath(shot)}
