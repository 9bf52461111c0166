"""The documentation site: built with warnings as errors, its examples executed, opened in a real browser.

One Sphinx build per test session (``-W --keep-going``, gallery examples re-run even when unchanged) into a
temporary directory, served over http://127.0.0.1 by a local ``http.server`` thread (asv's dashboard fetches its
JSON, which browsers refuse from ``file://``), and opened in headless Chromium driven by Playwright. Chromium is
Debian's (``apt-get install chromium``, done by ``.ci/run``); Playwright's own browser download is not used.

The browser tests take screenshots into the temporary directory; with ``SPECTRA_DOCS_SCREENSHOTS=DIR`` they are
also copied to ``DIR`` (the committed set in docs/_static/screenshots was made that way).

The Markdown pages' ``python`` code fences run here too, page by page in one namespace, so the guide cannot drift
from the code. Code shown but not executed (it needs an extra such as dask or cupy) is written as a
``{code-block} python`` directive instead of a ``python`` fence.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
CHROMIUM = os.environ.get("SPECTRA_CHROMIUM", "/usr/bin/chromium")
DIST = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


# -- the build -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-d",
            str(out / ".doctrees"),
            "-D",
            "sphinx_gallery_conf.run_stale_examples=True",
            str(DOCS),
            str(out / "html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return out / "html"


def test_site_has_every_page(site):
    for page in [
        "index",
        "install",
        "quickstart",
        "result",
        "guide/dense",
        "guide/stacks",
        "guide/sparse",
        "guide/operators",
        "guide/array_api",
        "guide/dask",
        "guide/cupy",
        "bounds",
        "performance",
        "benchmarks",
        "design",
        "contracts",
        "api",
        "generated/spectra.norm",
        "generated/spectra.NormEstimate",
        "auto_examples/index",
    ]:
        assert (site / f"{page}.html").is_file(), page


def test_install_page_names_the_distribution_from_pyproject(site):
    import html as html_lib

    html = html_lib.unescape(re.sub(r"<[^>]+>", "", (site / "install.html").read_text(encoding="utf-8")))
    assert f'pip install "{DIST}[numba]"' in html
    assert "{{ dist }}" not in html and "{{ extras_table }}" not in html
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for extra in extras:
        assert f"{DIST}[{extra}]" in html, extra


def test_api_reference_is_generated_from_the_docstrings(site):
    import spectra

    html = (site / "generated" / "spectra.norm.html").read_text(encoding="utf-8")
    # numpydoc sections of the docstring, rendered
    for section in ("Parameters", "Returns", "Raises", "Examples"):
        assert section in html, section
    assert "BackendUnavailableError" in html
    listed = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [name for name in spectra.__all__ if not re.search(rf"^\s+{name}\s*$", listed, re.M)]
    assert not missing, f"public names missing from docs/api.md: {missing}"


def test_every_example_was_executed_and_drew_a_figure(site):
    assert EXAMPLES, "examples/plot_*.py: the gallery has no examples"
    for script in EXAMPLES:
        page = site / "auto_examples" / f"{script.stem}.html"
        assert page.is_file(), page
        figures = sorted((site / "_images").glob(f"sphx_glr_{script.stem}_*.png"))
        figures = [f for f in figures if "thumb" not in f.name]
        assert figures, f"{script.name} produced no figure"
        assert all(f.stat().st_size > 5_000 for f in figures), [(f.name, f.stat().st_size) for f in figures]
        assert f"sphx_glr_{script.stem}_001.png" in page.read_text(encoding="utf-8")


def test_dashboard_is_published_with_the_committed_results(site):
    import json

    dashboard = site / "dashboard"
    assert (dashboard / "index.html").is_file()
    index = json.loads((dashboard / "index.json").read_text(encoding="utf-8"))
    committed = [p for p in (ROOT / "asv_bench" / "results").glob("*/*.json") if p.name != "machine.json"]
    assert committed, "asv_bench/results holds no committed run"
    run = json.loads(committed[0].read_text(encoding="utf-8"))
    assert run["commit_hash"] in index["revision_to_hash"].values()
    assert set(index["machines"]) == {p.parent.name for p in committed}
    graphs = list((dashboard / "graphs").rglob("*.json"))
    assert len(graphs) >= len(run["results"]), (len(graphs), len(run["results"]))
    links = (site / "benchmarks.html").read_text(encoding="utf-8")
    assert 'href="dashboard/index.html"' in links


# -- the Markdown pages' code ------------------------------------------------------------------------------------------


def _python_fences(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)]


@pytest.mark.parametrize("page", [p for p in PAGES if _python_fences(p.read_text(encoding="utf-8"))], ids=str)
def test_markdown_code_runs(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(_python_fences(page.read_text(encoding="utf-8"))):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}[block {i}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.relative_to(ROOT)}, python block {i} failed:\n{code}") from exc


# -- the browser -------------------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api  # in the test extra (through the docs extra)

    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} not found: the browser tests drive the system's Chromium (Debian: apt-get install -y chromium; "
        "another path: SPECTRA_CHROMIUM=...)"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg, errors
    finally:
        context.close()


def _screenshot(pg, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    pg.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{name}: an empty screenshot"
    keep = os.environ.get("SPECTRA_DOCS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def test_docs_page_renders_in_a_browser(server, page, tmp_path):
    page, errors = page
    page.goto(f"{server}/auto_examples/plot_interval_narrowing.html", wait_until="load")
    assert "interval narrows" in page.title()
    # the pydata theme's navigation is rendered, and every figure of the tutorial loaded (non-zero natural size)
    assert page.locator("nav").count() > 0
    sizes = page.eval_on_selector_all(
        "img.sphx-glr-single-img, img.sphx-glr-multi-img", "els => els.map(e => e.naturalWidth)"
    )
    assert sizes and all(w > 100 for w in sizes), sizes
    _screenshot(page, tmp_path, "docs_tutorial")
    page.goto(f"{server}/index.html", wait_until="load")
    assert page.locator("a[href='dashboard/index.html']").count() >= 1
    _screenshot(page, tmp_path, "docs_index")
    assert not errors, errors


_SERIES = """() => {
    const plot = $('#main-graph').data('plot');
    if (!plot) return null;
    return plot.getData().map(s => ({
        label: s.label, color: s.color,
        points: s.data.filter(p => p !== null && p[1] !== null && isFinite(p[1])).length,
    }));
}"""

_COLOURED_PIXELS = """(colors) => {
    // pixels of the data canvas that carry one of the series colours: the plotted points themselves
    const canvas = document.querySelector('#main-graph canvas.flot-base');
    const ctx = canvas.getContext('2d');
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const rgb = colors.map(c => {
        const probe = document.createElement('canvas').getContext('2d');
        probe.fillStyle = c; probe.fillRect(0, 0, 1, 1);
        return Array.from(probe.getImageData(0, 0, 1, 1).data.slice(0, 3));
    });
    let hits = 0;
    for (let i = 0; i < data.length; i += 4) {
        for (const [r, g, b] of rgb) {
            if (Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 && Math.abs(data[i + 2] - b) < 8) {
                hits++;
                break;
            }
        }
    }
    return {hits: hits, width: canvas.width, height: canvas.height};
}"""


def _benchmarks_with_results() -> list[tuple[str, int]]:
    """The committed run's timing and tracking benchmarks with the most parameter combinations that have a
    value: (name, how many), one of each kind."""
    import json

    (path,) = [p for p in (ROOT / "asv_bench" / "results").glob("*/*.json") if p.name != "machine.json"]
    results = json.loads(path.read_text(encoding="utf-8"))["results"]

    def count(value) -> int:
        values = value[0] if isinstance(value[0], list) else [value[0]]
        return sum(v is not None and v == v for v in values)

    picked = []
    for kind in ("time_", "track_"):
        named = {name: count(v) for name, v in results.items() if name.split(".")[-1].startswith(kind)}
        picked.append(max(named.items(), key=lambda item: (item[1], item[0])))
    return picked


def test_dashboard_renders_benchmark_graphs_in_a_browser(server, page, tmp_path):
    page, errors = page
    page.goto(f"{server}/dashboard/index.html", wait_until="load")
    # the summary grid is built by asv's JavaScript from index.json: one tile per benchmark
    page.wait_for_selector("#summarygrid-display .benchmark-container", timeout=60_000)
    tiles = page.locator("#summarygrid-display .benchmark-container").count()
    assert tiles >= 5, tiles
    page.wait_for_selector("#summarygrid-display .benchmark-plot canvas", timeout=60_000)
    _screenshot(page, tmp_path, "dashboard_summary")

    for benchmark, values in _benchmarks_with_results():
        page.goto(f"{server}/dashboard/index.html#{benchmark}", wait_until="load")
        page.wait_for_selector("#main-graph canvas.flot-base", timeout=60_000)
        page.wait_for_function(
            "() => { const p = $('#main-graph').data('plot'); return p && p.getData().length > 0; }", timeout=60_000
        )
        series = page.evaluate(_SERIES)
        plotted = [s for s in series if s["points"] > 0]
        # asv's graph shows every parameter combination, or a default selection of them when there are many
        # (80 for DenseNorm): every series it shows must have its point, and none may be invented
        assert 0 < len(plotted) == len(series) <= values, (
            f"{benchmark}: {len(plotted)} series with data of {len(series)} shown, {values} run"
        )
        pixels = page.evaluate(_COLOURED_PIXELS, [s["color"] for s in plotted])
        assert pixels["width"] > 300 and pixels["height"] > 200, pixels
        # one run: one point per series, and series with equal values overlap, so count a few pixels per series
        assert pixels["hits"] >= 4 * len(plotted), f"{benchmark}: the points were not drawn: {pixels}"
        _screenshot(page, tmp_path, f"dashboard_{benchmark.split('.')[-1]}")
    assert not errors, errors
