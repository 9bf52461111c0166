"""NVRTC through ctypes, from the ``nvidia-cuda-nvrtc-cu12`` wheel: CUDA C to CUBIN without a GPU or CuPy.

Compiling to CUBIN (``--gpu-architecture=sm_XX``) runs ptxas, whose ``-v`` report (registers, stack
frame, spill stores/loads per entry function) lands in the program log; :func:`ptxas_report` parses it.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path


def _library() -> ctypes.CDLL:
    import nvidia.cuda_nvrtc  # the wheel's namespace package; ImportError if it is missing

    for root in nvidia.cuda_nvrtc.__path__:
        lib = Path(root) / "lib" / "libnvrtc.so.12"
        if lib.exists():
            return ctypes.CDLL(str(lib))
    raise ImportError("nvidia-cuda-nvrtc-cu12 is installed but libnvrtc.so.12 was not found in it")


@dataclass(frozen=True)
class Compiled:
    cubin: bytes
    log: str


class NVRTCError(RuntimeError):
    pass


def compile_cubin(source: str, name: str, options: list[str]) -> Compiled:
    """Compile ``source`` with ``options``; raise :class:`NVRTCError` with the log on failure."""
    lib = _library()
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None))
    try:
        opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        status = lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        _check(lib, lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetProgramLog(prog, buf))
        log = buf.value.decode(errors="replace")
        if status != 0:
            raise NVRTCError(f"{_message(lib, status)}\n{log}")
        _check(lib, lib.nvrtcGetCUBINSize(prog, ctypes.byref(size)))
        cubin = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetCUBIN(prog, cubin))
        return Compiled(cubin.raw, log)
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _message(lib, status: int) -> str:
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib.nvrtcGetErrorString(status).decode()


def _check(lib, status: int) -> None:
    if status != 0:
        raise NVRTCError(_message(lib, status))


@dataclass(frozen=True)
class KernelReport:
    registers: int
    stack: int
    spill_stores: int
    spill_loads: int


_PROPS = re.compile(
    r"Function properties for (\w+)\s*\n.*?(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
    r"\s*\n.*?Used (\d+) registers",
    re.S,
)


def ptxas_report(log: str) -> dict[str, KernelReport]:
    """Entry function -> registers, stack frame and spills, from a ``-Xptxas -v`` log."""
    return {
        name: KernelReport(int(regs), int(stack), int(stores), int(loads))
        for name, stack, stores, loads, regs in _PROPS.findall(log)
    }
