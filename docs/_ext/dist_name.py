"""Facts from pyproject.toml in the pages: ``{{ dist }}`` and ``{{ extras_table }}``.

``{{ dist }}`` becomes the distribution name and ``{{ extras_table }}`` a Markdown table of the optional
dependency groups (extra -> what it installs), both read from pyproject.toml by conf.py. The substitution runs on
the raw source, so it also reaches code blocks (``pip install "{{ dist }}[numba]"``), which MyST's own substitutions
do not.
"""

from __future__ import annotations

DIST = "{{ dist }}"
EXTRAS = "{{ extras_table }}"


def extras_table(dist: str, extras: dict[str, list[str]]) -> str:
    """Markdown table of ``extras`` (name -> requirements); ``dist[...]`` self-references are shown as extras."""
    rows = ["| extra | `pip install` | installs |", "|---|---|---|"]
    for name, reqs in extras.items():
        shown = ", ".join(f"`{r}`" for r in reqs)
        rows.append(f'| `{name}` | `pip install "{dist}[{name}]"` | {shown} |')
    return "\n".join(rows)


def _substitute(app, docname: str, source: list[str]) -> None:
    text = source[0]
    if EXTRAS in text:
        text = text.replace(EXTRAS, extras_table(app.config.dist_name, app.config.dist_extras))
    source[0] = text.replace(DIST, app.config.dist_name)


def setup(app):
    app.add_config_value("dist_name", "spectra", "env")
    app.add_config_value("dist_extras", {}, "env")
    app.connect("source-read", _substitute)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
