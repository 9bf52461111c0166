"""Publish the committed asv results as a dashboard inside the HTML site.

After a successful HTML build, ``asv publish`` renders ``asv_bench/results`` (machine directories with their
``machine.json`` and result files, plus ``benchmarks.json``; a machine directory without results is left out) into
``<outdir>/<asv_dashboard_dir>``. The run uses a
temporary copy of ``asv.conf.json`` that points at this checkout, never fetches, and plots the results on the first
configured branch whose first-parent history contains every result's commit (``HEAD`` when none does), so the
dashboard builds from any clone with the history of those commits. Missing results or commits fail the build with
a message that says what to do.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _result_commits(results: Path) -> set[str]:
    commits = set()
    for path in results.glob("*/*.json"):
        if path.name == "machine.json":
            continue
        commits.add(json.loads(path.read_text(encoding="utf-8"))["commit_hash"])
    return commits


def _branch(root: Path, candidates: list[str], commits: set[str]) -> str:
    for name in [*candidates, "HEAD"]:
        proc = _git(root, "rev-list", "--first-parent", name, "--")
        if proc.returncode == 0 and commits <= set(proc.stdout.split()):
            return name
    raise ExtensionError(
        f"asv_dashboard: the result commits {sorted(c[:8] for c in commits)} are not in the first-parent history of "
        f"{candidates or []} or HEAD; a shallow clone lacks them (git fetch --unshallow)"
    )


def _load_conf(path: Path) -> dict:
    from asv.util import load_json  # asv is in the docs extra; imported only when the site is built

    return load_json(str(path), js_comments=True)


def publish(config_path: Path, html_dir: Path) -> None:
    """Run ``asv publish`` for the results next to ``config_path`` into ``html_dir``."""
    bench = config_path.parent
    conf = _load_conf(config_path)
    results = (bench / conf.get("results_dir", "results")).resolve()
    if not (results / "benchmarks.json").is_file() or not list(results.glob("*/machine.json")):
        raise ExtensionError(
            f"asv_dashboard: no committed asv results in {results} (benchmarks.json and <machine>/machine.json); "
            "see docs/benchmarks.md for the run that produces them"
        )
    commits = _result_commits(results)
    if not commits:
        raise ExtensionError(f"asv_dashboard: {results} holds a machine description but no result file")
    top = _git(bench, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ExtensionError(f"asv_dashboard: {bench} is not inside a git checkout: {top.stderr.strip()}")
    root = Path(top.stdout.strip())
    missing = [c for c in commits if _git(root, "cat-file", "-e", f"{c}^{{commit}}").returncode != 0]
    if missing:
        raise ExtensionError(
            f"asv_dashboard: commits {[c[:8] for c in missing]} of the results are not in this clone "
            "(a shallow clone?); git fetch --unshallow, then rebuild"
        )
    branch = _branch(root, list(conf.get("branches", [])), commits)
    with tempfile.TemporaryDirectory(prefix="asv-dashboard-") as tmp:
        # only machines with results: a machine.json alone (left by `asv machine` or an aborted run) is not a run
        published = Path(tmp) / "results"
        published.mkdir()
        shutil.copy(results / "benchmarks.json", published)
        for machine in results.glob("*/machine.json"):
            if any(p.name != "machine.json" for p in machine.parent.glob("*.json")):
                shutil.copytree(machine.parent, published / machine.parent.name)
        conf.update(
            repo=str(root),
            branches=[branch],
            benchmark_dir=str((bench / conf.get("benchmark_dir", "benchmarks")).resolve()),
            results_dir=str(published),
            html_dir=str(html_dir),
            env_dir=str(Path(tmp) / "env"),
            project_url="../index.html",
        )
        tmp_conf = Path(tmp) / "asv.conf.json"
        tmp_conf.write_text(json.dumps(conf), encoding="utf-8")
        asv = shutil.which("asv")
        cmd = [asv] if asv else [sys.executable, "-m", "asv"]
        proc = subprocess.run(
            [*cmd, "publish", "--no-pull", "--config", str(tmp_conf)],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0 or not (html_dir / "index.json").is_file():
        raise ExtensionError(f"asv_dashboard: asv publish failed:\n{proc.stdout}\n{proc.stderr}")
    if "Couldn't find" in proc.stdout + proc.stderr:
        raise ExtensionError(f"asv_dashboard: asv publish left results off the graphs:\n{proc.stdout}{proc.stderr}")


#: CDN resource of asv's pages (by the end of its URL) -> the vendored copy in docs/_ext/asv_vendor
VENDORED = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "flot/0.8.3/jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable.min.js": "stupidtable.js",
    "md5.min.js": "md5.js",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
}


def vendor(html_dir: Path) -> None:
    """Point the dashboard's pages at vendored copies of the libraries asv loads from CDNs (no network needed)."""
    source = Path(__file__).with_name("asv_vendor")
    target = html_dir / "vendor"
    target.mkdir(exist_ok=True)
    for name in set(VENDORED.values()):
        shutil.copy(source / name, target / name)
    for page in html_dir.glob("*.html"):
        text = page.read_text(encoding="utf-8")

        def local(match: re.Match, page: Path = page) -> str:
            tag, url = match.group(1), match.group(2)
            for suffix, name in VENDORED.items():
                if url.endswith(suffix):
                    if tag == "script":
                        return f'<script src="vendor/{name}"></script>'
                    return f'<link rel="stylesheet" href="vendor/{name}">'
            raise ExtensionError(f"asv_dashboard: {page.name} loads {url}, which is not vendored")

        text = re.sub(r'<(script) src="(https?://[^"]+)"[^>]*></script>', local, text)
        text = re.sub(r'<(link) rel="stylesheet" href="(https?://[^"]+)"[^>]*>', local, text)
        page.write_text(text, encoding="utf-8")


def _build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    html_dir = Path(app.outdir) / app.config.asv_dashboard_dir
    logger.info(f"asv_dashboard: publishing the asv results into {html_dir}")
    publish(Path(app.config.asv_dashboard_config), html_dir)
    vendor(html_dir)


def setup(app):
    app.add_config_value("asv_dashboard_config", "", "env")
    app.add_config_value("asv_dashboard_dir", "dashboard", "env")
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
