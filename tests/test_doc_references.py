"""Cross-references name sections that exist.

Docs and docstrings point into the Markdown pages by title (``docs/performance.md, "First-call cost"``) and into
the bounds reference by section sign (``docs/bounds.md §6e``). A renamed or dropped section leaves such a pointer
dangling without any build noticing; these tests read every source that cites one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = {p.name: p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts}
SOURCES = sorted(
    [ROOT / "README.md", *PAGES.values()]
    + [
        p
        for folder in ("spectra", "examples", "docs/scripts", "asv_bench", "tests")
        for p in (ROOT / folder).rglob("*.py")
    ]
)
SOURCES.remove(Path(__file__).resolve())  # its own examples below are not references
#: ``page.md, "Title"``, ``page.md ("Title")``, ``(docs/page.md, "Title")``: a capitalised title of at most two
#: lines (code such as ``(ROOT / "README.md").read_text()`` does not match)
NAMED = re.compile(r"\b(\w+)\.md\)?,?\s*\(?\"([A-Z`][^\"\n()=]*(?:\n[^\"\n()=]+)?)\"")
#: a section of the bounds reference, ``§6e``; ``§3.6`` (another book's numbering) is not one
SIGN = re.compile(r"§(\d+[a-z]?)(?![.\d])")


def _titles(page: Path) -> list[str]:
    """Headings and bold paragraph titles (``**Title.**``) of a page, whitespace normalised."""
    text = page.read_text(encoding="utf-8")
    heads = [re.sub(r"^#+\s*", "", line) for line in text.splitlines() if line.startswith("#")]
    bold = re.findall(r"\*\*([^*]+?)\.?\*\*", text)
    return [" ".join(t.split()) for t in heads + bold]


def _bounds_sections() -> set[str]:
    """``§N`` and ``§Nx`` labels of docs/bounds.md: headings, and bold titles such as ``**§6a/b SVD.**``."""
    text = PAGES["bounds.md"].read_text(encoding="utf-8")
    labels = set(re.findall(r"^#+ §(\d+[a-z]?)\b", text, re.M))
    for number, letters in re.findall(r"\*\*§(\d+)([a-z](?:/[a-z])*)", text):
        labels |= {number + letter for letter in letters.split("/")}
    return labels


def _line(text: str, at: int) -> int:
    return text[:at].count("\n") + 1


def test_named_section_references_resolve():
    titles = {name: _titles(page) for name, page in PAGES.items()}
    dangling = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        for m in NAMED.finditer(text):
            page, title = m.group(1) + ".md", " ".join(m.group(2).replace("#", " ").split())
            if page in titles and not any(t.startswith(title) for t in titles[page]):
                dangling.append(f"{source.relative_to(ROOT)}:{_line(text, m.start())}: {page}, {title!r}")
    assert not dangling, "sections cited but not found:\n" + "\n".join(dangling)


def test_bounds_section_signs_resolve():
    sections = _bounds_sections()
    assert {"1", "3b", "4d", "6a", "6b", "6c", "6e", "13"} <= sections  # the parser reads both kinds of title
    dangling = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        dangling += [
            f"{source.relative_to(ROOT)}:{_line(text, m.start())}: §{m.group(1)}"
            for m in SIGN.finditer(text)
            if m.group(1) not in sections
        ]
    assert not dangling, "docs/bounds.md sections cited but not found:\n" + "\n".join(dangling)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('(docs/performance.md, "First-call cost")', ("performance", "First-call cost")),
        ('docs/design.md ("Hostile\n    inputs")', ("design", "Hostile\n    inputs")),
        ("bounds §6c/§6e, and Higham §3.6", None),
        ('(ROOT / "README.md").read_text(encoding="utf-8")', None),
    ],
)
def test_the_patterns_read_what_the_sources_write(text, found):
    m = NAMED.search(text)
    assert (m.groups() if m else None) == found
    assert [s.group(1) for s in SIGN.finditer(text)] == (["6c", "6e"] if "§" in text else [])
