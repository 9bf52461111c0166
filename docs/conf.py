"""Sphinx configuration: ``python -m sphinx -b html docs docs/_build/html`` (needs ``spectra[docs]``)."""

project = "spectra"
author = "the spectra developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "numpydoc", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
numpydoc_show_class_members = False
html_theme = "alabaster"
