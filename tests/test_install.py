"""The distribution name (spectra-linalg; the import name is spectra) and the extras that messages name."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from spectra import _cli_progress, _loaders, backends
from spectra._errors import BackendUnavailableError, SpectraError
from spectra._install import DISTRIBUTION, pip_install

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
#: every `pip install "NAME[EXTRA]"` or `NAME[EXTRA]` written in the code, docs or benchmarks
HINT = re.compile(r"pip install \"?([A-Za-z0-9_.-]+)\[([A-Za-z0-9_,.-]+)\]")
#: the extra named on another distribution: ``spectra[numba]``, ``spectra [cli]`` (spectra on PyPI is unrelated)
WRONG_EXTRA = re.compile(r"(?<![-\w.])spectra\s*\[")
#: ``pip install spectra`` (any options first): installs that unrelated distribution
WRONG_INSTALL = re.compile(r"pip3?\s+install\s+(?:-{1,2}[\w-]+\s+)*[\"']?spectra(?![-\w])")
#: every text file of the code, docs (guide pages, site extensions and scripts included), examples, scripts,
#: benchmarks and CI
TEXT_FILES = sorted(
    {
        *(ROOT / "spectra").rglob("*.py"),
        *(ROOT / "asv_bench").rglob("*.py"),
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "docs").rglob("*.py"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "examples").rglob("*.rst"),
        *(ROOT / "scripts").rglob("*.py"),
        *(ROOT / "scripts").rglob("*.sh"),
        ROOT / "README.md",
        ROOT / "pyproject.toml",
        ROOT / ".ci" / "run",
        ROOT / "asv_bench" / "asv.conf.json",
    }
    - set((ROOT / "docs" / "_build").rglob("*"))
)


def test_distribution_name_is_the_free_one():
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == "spectra-linalg"
    assert PYPROJECT["project"]["scripts"]["spectra"] == "spectra.__main__:main"
    for spec in PYPROJECT["project"]["optional-dependencies"]["all"]:
        name, extras = re.fullmatch(r"([A-Za-z0-9_.-]+)\[(.*)\]", spec).groups()
        assert name == DISTRIBUTION and set(extras.split(",")) <= EXTRAS


def test_pip_install_hint():
    assert pip_install("numba") == 'pip install "spectra-linalg[numba]"'


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_install_hint_names_the_distribution_and_an_existing_extra(path):
    text = path.read_text()
    for name, extras in HINT.findall(text):
        assert name == DISTRIBUTION, f"{path.name}: pip install {name}[{extras}]"
        assert set(extras.split(",")) <= EXTRAS, f"{path.name}: unknown extra in {extras}"
    assert not WRONG_EXTRA.search(text), f"{path.name} names the extra on the wrong distribution"
    assert not WRONG_INSTALL.search(text), f"{path.name} installs the unrelated distribution spectra"


@pytest.mark.parametrize(
    "text",
    [
        'pip install "spectra[numba]"',
        "pip install spectra[cli]",
        "`spectra [plot]` extra",
        "pip install spectra",
        "pip install -U 'spectra'",
        "python -m pip install --upgrade spectra",
    ],
)
def test_wrong_names_are_recognised(text):
    assert WRONG_EXTRA.search(text) or WRONG_INSTALL.search(text)


@pytest.mark.parametrize(
    "text",
    [
        'pip install "spectra-linalg[numba]"',
        "pip install spectra-linalg",
        'pip install -e ".[test]"',
        "time_spectra[float32]",
        "spectra.norm(A)[0]",
        "python -m pip install spectra_linalg-0.1-py3-none-any.whl",
    ],
)
def test_right_names_pass(text):
    assert not WRONG_EXTRA.search(text) and not WRONG_INSTALL.search(text)


def test_asv_installs_the_distribution():
    conf = (ROOT / "asv_bench" / "asv.conf.json").read_text()
    assert '"project": "spectra-linalg"' in conf and "pypi.org/project/spectra-linalg" in conf


def test_extras_of_backends_and_readers_exist():
    for _module, _cls, extra in backends.BACKENDS.values():
        assert extra is None or extra in EXTRAS
    for fmt in _loaders.FORMATS:
        assert (fmt.extra is None) == (not fmt.modules) and (fmt.extra is None or fmt.extra in EXTRAS)
    for extra in ("cli", "plot"):  # the progress bar's tqdm, --plot's matplotlib
        assert extra in EXTRAS


def test_missing_backend_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    for name in ("spectra.backends.numba", "spectra.backends._numba_kernels"):  # imported by earlier tests
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(backends, "_cache", {})
    with pytest.raises(BackendUnavailableError) as exc:
        backends._load("numba")
    assert pip_install("numba") in str(exc.value) and "numba" in EXTRAS


@pytest.mark.parametrize("fmt", [f for f in _loaders.FORMATS if f.extra], ids=lambda f: f.name)
def test_missing_reader_message(fmt, monkeypatch, tmp_path):
    for module in fmt.modules:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(SpectraError) as exc:
        _loaders.load(_existing(tmp_path, fmt))
    assert pip_install(fmt.extra) in str(exc.value)


def _existing(tmp_path, fmt) -> str:
    path = tmp_path / f"x{fmt.suffixes[0]}"
    path.write_bytes(b"")
    return str(path)


def test_missing_matplotlib_message(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(SpectraError, match=re.escape(pip_install("plot"))):
        _cli_progress.require_matplotlib()


def test_all_extra_is_every_feature_without_developer_tools():
    """``[all]`` installs what users ask for, not the test/bench/docs tools and their exact torch pin.
    Regression: it included ``test``, whose ``torch==2.13.0`` refused to resolve beside a newer torch."""
    spec = PYPROJECT["project"]["optional-dependencies"]["all"]
    (line,) = spec
    named = set(re.fullmatch(r"spectra-linalg\[(.*)\]", line).group(1).split(","))
    assert named == EXTRAS - {"all", "test", "bench", "docs", "cupy"}
    for extra in named:
        assert not any("==" in req for req in PYPROJECT["project"]["optional-dependencies"][extra]), extra


def test_wheel_and_sdist_contents(tmp_path, monkeypatch):
    """The wheel ships ``py.typed`` and the license and no tests; the sdist ships the whole test suite with what
    it reads. Regressions: no ``py.typed`` (type checkers read spectra as untyped), no license text, and an
    sdist whose tests lacked their conftest and helper modules (20 of 47 test modules failed to collect)."""
    import subprocess
    import tarfile
    import zipfile

    from setuptools import build_meta

    monkeypatch.chdir(ROOT)
    wheel = zipfile.ZipFile(tmp_path / build_meta.build_wheel(str(tmp_path))).namelist()
    assert "spectra/py.typed" in wheel
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel), wheel
    assert not any(name.startswith(("tests/", "docs/")) or "__pycache__" in name for name in wheel)
    sdist = tmp_path / build_meta.build_sdist(str(tmp_path))
    with tarfile.open(sdist) as tar:
        shipped = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "docs", "examples", "asv_bench", "scripts", "conftest.py", "LICENSE"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if tracked.returncode == 0 and tracked.stdout:  # a git checkout: every tracked file the tests read ships
        missing = set(tracked.stdout.split()) - shipped
        assert not missing, sorted(missing)[:10]
    for name in ("conftest.py", "tests/conftest.py", "tests/fake_cupy.py", "asv_bench/benchmarks/bench_import.py"):
        assert name in shipped, name
    assert not any("__pycache__" in name or name.endswith((".nbi", ".nbc")) for name in shipped)
