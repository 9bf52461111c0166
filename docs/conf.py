"""Sphinx configuration: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (needs the ``docs`` extra).

The build executes the gallery (``examples/plot_*.py``), generates the API reference from the docstrings and
publishes the committed asv results as a dashboard under ``dashboard/`` of the site.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

import spectra  # noqa: E402  (imported from the checkout, after the path is set)

# The distribution name and version come from pyproject.toml, so a rename or release lands in the docs by itself.
_PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DIST = _PROJECT["name"]

project = "spectra"
author = "the spectra developers"
copyright = "the spectra developers"
release = _PROJECT.get("version", spectra.__version__)
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "asv_dashboard",
    "dist_name",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext", "_static/screenshots", "scripts", "**.ipynb_checkpoints"]
root_doc = "index"

# -- MyST ----------------------------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# -- API reference: numpydoc renders the docstrings, autosummary writes one page per object ---------------------------
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# -- Gallery: every examples/plot_*.py is executed at build time --------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "only_warn_on_example_error": False,
}

# -- HTML ------------------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"spectra {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "install": [], "quickstart": [], "result": []}
html_show_sourcelink = False

# -- Dashboard (docs/_ext/asv_dashboard.py): asv publish of asv_bench/results into <html>/dashboard --------------------
asv_dashboard_config = str(ROOT / "asv_bench" / "asv.conf.json")
asv_dashboard_dir = "dashboard"

# -- {{ dist }} and {{ extras_table }} in any page come from pyproject.toml (docs/_ext/dist_name.py) -----------------
dist_name = DIST
dist_extras = _PROJECT.get("optional-dependencies", {})
