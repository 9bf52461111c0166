"""The code base stays ruff clean (lint and format), as CI checks on every run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff is part of the test extra: pip install -e '.[test]'"
    proc = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_module_constants_are_defined_once():
    """A tuning constant has one definition that the other modules import (``AUTO_SVD_MAX_WORK`` had two, and the
    torch parametrization a third copy as a literal)."""
    import re

    defined: dict[tuple[str, str], list[str]] = {}  # (name, value) -> modules (a per-method KEEP differs in value)
    for path in sorted((ROOT / "spectra").rglob("*.py")):
        for name, value in re.findall(r"^([A-Z][A-Z0-9_]{3,})\s*(?::[^=\n]+)?=\s*(.+)$", path.read_text(), flags=re.M):
            defined.setdefault((name, value.strip()), []).append(str(path.relative_to(ROOT)))
    # a protocol attribute that every CUDA kernel module defines for itself (its own kernels, read by the compile test)
    per_module = {"HOT_KERNELS"}
    twice = {key: paths for key, paths in defined.items() if len(paths) > 1 and key[0] not in per_module}
    assert not twice, twice
    from spectra import _conv, _plan

    assert _conv.AUTO_SVD_MAX_WORK is _plan.AUTO_SVD_MAX_WORK == 1e8


def test_no_merge_conflict_markers():
    """A merge left its conflict markers in docs/design.md once; no tracked text file may carry them."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    markers = ("<" * 7 + " ", "=" * 7 + "\n", ">" * 7 + " ")
    found = []
    for name in files.split():
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".rst", ".toml", ".cfg", ".txt", ".json", ".yml", ".yaml", ".sh"}:
            continue
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(True), 1):
            if line.startswith(markers) and not (line == "=" * 7 + "\n" and path.suffix == ".rst"):
                found.append(f"{name}:{number}")
    assert not found, found
