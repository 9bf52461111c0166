"""Reading a matrix from a file for the command line: one registry entry per format, never unpickling.

Every format is an entry of :data:`FORMATS`: its name, the file suffixes it claims, the reader, and the pip
extra that installs the reader's library (``None`` when NumPy/SciPy suffice). Adding a format is adding
one entry. No reader unpickles: ``.npy``/``.npz`` are read with ``allow_pickle=False`` and MATLAB files by
``scipy.io.loadmat``, which has no code execution path.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import SpectraError
from ._install import pip_install

__all__ = ["FORMATS", "Format", "find_format", "load"]

NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class Format:
    """A file format the command line reads."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[str, str | None], Any]  # (path, key) -> dense array or scipy.sparse array
    description: str
    modules: tuple[str, ...] = ()  # optional libraries the reader imports
    extra: str | None = None  # the pip extra that installs them


def _choose(path: str, names: list[str], key: str | None, what: str = "arrays") -> str:
    """The array to read from a container holding ``names``: ``key``, or the only one."""
    if key is not None:
        if key not in names:
            raise ValueError(f"{path} has no array {key!r} (it has {', '.join(names) or 'none'})")
        return key
    if not names:
        raise ValueError(f"{path} holds no {what}: there is no matrix to read")
    if len(names) != 1:
        raise ValueError(f"{path} holds {len(names)} {what} ({', '.join(names)}); choose one with --key")
    return names[0]


def _no_pickles(path: str, exc: ValueError) -> ValueError:
    if any(word in str(exc) for word in ("pickle", "Object arrays", "Python objects")):
        return ValueError(f"{path} holds Python objects (dtype object): reading it would unpickle; spectra never does")
    return ValueError(f"{path}: {exc}")


def _no_key(path: str, key: str | None, what: str) -> None:
    """A file that holds one matrix has nothing for ``--key`` to pick: a key given is a mistake, said."""
    if key is not None:
        raise ValueError(
            f"{path} holds one matrix ({what}), so --key {key!r} picks nothing; --key names an array of a "
            ".npz, .mat, .safetensors or zarr group"
        )


def _read_npy(path: str, key: str | None) -> Any:
    _no_key(path, key, "a .npy file")
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        raise ValueError(
            f"{path} is not a NumPy .npy file (it does not start with the .npy header); save the matrix with numpy.save"
        )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise _no_pickles(path, exc) from None


def _read_npz(path: str, key: str | None) -> Any:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a NumPy .npz archive (not a zip file); save it with numpy.savez")
    with np.load(path, allow_pickle=False) as f:
        names = list(f.files)
        if {"format", "shape", "data"} <= set(names):
            import scipy.sparse as sp

            _no_key(path, key, "a scipy.sparse.save_npz archive")
            return sp.load_npz(path)
        name = _choose(path, names, key)
        try:
            return f[name]
        except ValueError as exc:
            raise _no_pickles(path, exc) from None


def _read_mtx(path: str, key: str | None) -> Any:
    import scipy.io
    import scipy.sparse as sp

    _no_key(path, key, "a Matrix Market file")
    M = scipy.io.mmread(path)
    return sp.csr_array(M) if sp.issparse(M) else np.asarray(M)


def _read_mat(path: str, key: str | None) -> Any:
    import scipy.io
    import scipy.sparse as sp

    try:
        names = [name for name, _shape, _cls in scipy.io.whosmat(path)]
    except NotImplementedError:  # MATLAB -v7.3 files are HDF5
        raise ValueError(f"{path} is a MATLAB v7.3 (HDF5) file; save it with save(..., '-v7') to read it") from None
    name = _choose(path, names, key, "variables")
    M = scipy.io.loadmat(path, variable_names=[name])[name]
    if sp.issparse(M):
        return sp.csc_array(M)
    if M.dtype.kind not in "biufc":
        raise ValueError(f"{path}: variable {name!r} is not a numeric matrix (MATLAB class {M.dtype})")
    return M


def _read_safetensors(path: str, key: str | None) -> Any:
    """A tensor of a safetensors file, as NumPy; one whose dtype NumPy lacks (bfloat16, the usual dtype of
    model weights, or float8) through PyTorch, widened exactly to float32 (spectra computes them in float32)."""
    from safetensors import safe_open

    with safe_open(path, framework="np") as f:
        name = _choose(path, list(f.keys()), key, "tensors")
        try:
            return f.get_tensor(name)
        except (TypeError, AttributeError) as exc:  # "data type 'bfloat16' not understood", float8: "no attribute"
            if importlib.util.find_spec("torch") is None:
                raise SpectraError(
                    f"{path}: tensor {name!r} has a dtype NumPy lacks ({exc}); reading it needs PyTorch, "
                    f"install it with: {pip_install('torch')}"
                ) from None
    import torch

    with safe_open(path, framework="pt") as f:
        tensor = f.get_tensor(name)
    return tensor.to(torch.float32).numpy()


def _zarr_array_paths(group) -> list[str]:
    """The paths of every array in a zarr group, its sub-groups' included (``layers/w``), sorted."""
    import zarr

    if hasattr(group, "members"):  # zarr 3
        return sorted(p for p, child in group.members(max_depth=None) if isinstance(child, zarr.Array))
    found: list[str] = []  # zarr 2
    group.visititems(lambda p, child: found.append(p) if isinstance(child, zarr.Array) else None)
    return sorted(found)


def _read_zarr(path: str, key: str | None) -> Any:
    """A zarr array, lazily as a Dask array (read chunk by chunk on the Dask backend) when Dask is
    installed, else read into NumPy."""
    import zarr

    node = zarr.open(path, mode="r")
    if isinstance(node, zarr.Array):
        _no_key(path, key, "a zarr array")
    else:
        name = _choose(path, _zarr_array_paths(node), key)
        node = node[name]
    if importlib.util.find_spec("dask") is None:
        return node[...]
    import dask.array as da

    return da.from_zarr(node)


def _as_dask(A: Any) -> Any:
    """A dense array read for ``--backend dask``, as a Dask array (a memory-mapped ``.npy`` is then read
    chunk by chunk); a sparse matrix is refused in the command line's terms."""
    from .backends import _load as load_backend  # BackendUnavailableError names the extra

    load_backend("dask")
    import dask.array as da
    import scipy.sparse as sp

    if sp.issparse(A):
        raise ValueError(
            "--backend dask runs dense matrices (read chunk by chunk from .npy or .zarr); this file holds a sparse "
            "matrix: leave out --backend (or use --backend numpy or numba)"
        )

    return da.from_array(A) if isinstance(A, np.ndarray) else A


#: every format the command line reads; the first whose suffix matches the file name wins
FORMATS: list[Format] = [
    Format("npy", (".npy",), _read_npy, "NumPy .npy"),
    Format("npz", (".npz",), _read_npz, "NumPy .npz (dense, or scipy.sparse.save_npz)"),
    Format("mtx", (".mtx", ".mtx.gz"), _read_mtx, "Matrix Market"),
    Format("mat", (".mat",), _read_mat, "MATLAB .mat up to v7 (scipy.io.loadmat)"),
    Format(
        "safetensors",
        (".safetensors",),
        _read_safetensors,
        "safetensors (bfloat16 and float8 tensors through PyTorch)",
        ("safetensors",),
        "safetensors",
    ),
    Format("zarr", (".zarr",), _read_zarr, "zarr array or group (directory)", ("zarr",), "dask"),
]


def find_format(path: str) -> Format:
    """The registered format of ``path``, from its suffix."""
    lower = os.fspath(path).lower().rstrip("/\\")
    for fmt in FORMATS:
        if lower.endswith(fmt.suffixes):
            return fmt
    known = ", ".join(s for fmt in FORMATS for s in fmt.suffixes)
    raise ValueError(f"{path}: unknown file type; spectra reads {known}")


def load(path: str, key: str | None = None, backend: str = "auto") -> tuple[Any, Format]:
    """The matrix stored in ``path`` (``key`` picks one array of a container) and its format.

    ``backend="dask"`` returns a dense matrix as a Dask array; a ``.zarr`` store is one whenever Dask is
    installed.

    Raises
    ------
    ValueError
        Unknown suffix, a file that is not of its suffix's format, pickled content, an ambiguous container.
    OSError
        The file cannot be read.
    SpectraError
        The reader's optional library is missing (the message names the pip extra).
    """
    fmt = find_format(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    for module in fmt.modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise SpectraError(
                f"reading {fmt.name} files needs the optional package {module!r}; "
                f"install it with: {pip_install(fmt.extra)}"
            ) from None
    try:
        A = fmt.read(os.fspath(path), key)
    except SpectraError:
        raise
    except ValueError as exc:
        if str(exc).startswith(os.fspath(path)):
            raise
        raise ValueError(f"{path}: {exc}") from None
    except Exception as exc:  # the readers' own error types (scipy.io, safetensors, zarr), I/O errors
        raise ValueError(f"{path} could not be read as {fmt.name} ({type(exc).__name__}: {exc})") from None
    return (_as_dask(A) if backend == "dask" else A), fmt
