"""Compiling and loading the book's C kernels (``*.c`` next to this file) with ctypes.

A kernel's source is compiled by the system's C compiler (``$CC``, else ``cc``)
the first time it is asked for, into a cache directory (``$LNBOOK_KERNEL_CACHE``,
else ``~/.cache/lnbook-helpers``, else the temporary directory), named by a hash
of the source, compiler and flags; later sessions load it from there. Where
there is no compiler (or ``LNBOOK_NO_C_KERNEL`` is set) :func:`load` returns
``None`` and :func:`why_not` says why, and the callers fall back to torch
operations. Nothing happens at import.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch

__all__ = ["SUFFIX", "signatures", "load", "why_not", "available", "function", "data_pointers"]

#: The dtypes the kernels are compiled for, and the suffix of their C functions' names.
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

#: Tried in order until one compiles. -fno-trapping-math lets the compiler vectorize floorf and
#: the selects of the float32 exp; -fopenmp-simd honours the kernels' `omp simd reduction` pragmas
#: (no OpenMP runtime); the first set also asks for the widest vectors (x86 compilers only).
_FAST = ["-O3", "-march=native", "-fopenmp-simd", "-fno-trapping-math"]
FLAGS = (_FAST + ["-mprefer-vector-width=512", "-funroll-loops"], _FAST,
         ["-O3", "-fopenmp-simd", "-fno-trapping-math"], ["-O2"])
_lock = threading.Lock()
_libs = {}  # name -> CDLL or None
_errors = {}  # name -> why it is None


def _cache_dir():
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lnbook-helpers"
    for root in (os.environ.get("LNBOOK_KERNEL_CACHE"), default,
                 Path(tempfile.gettempdir()) / f"lnbook-helpers-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        if not root:
            continue
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            probe = Path(root) / f".probe-{os.getpid()}"
            probe.touch()
            probe.unlink()
            return Path(root)
        except OSError:
            continue
    raise RuntimeError("no writable cache directory for the compiled kernel")


def _compile(source):
    """Compile ``source`` into the cache (once per source, compiler and flags); return the library's path."""
    if os.environ.get("LNBOOK_NO_C_KERNEL"):
        raise RuntimeError("switched off by the environment variable LNBOOK_NO_C_KERNEL")
    if sys.platform == "win32":
        raise RuntimeError("not built on Windows; the torch operations are used")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        raise RuntimeError(f"no C compiler found (looked for {os.environ.get('CC', 'cc')!r})")
    text = source.read_bytes()
    errors = []
    for flags in FLAGS:
        key = hashlib.sha256(text + cc.encode() + " ".join(flags).encode() + sys.platform.encode()).hexdigest()[:16]
        target = _cache_dir() / f"{source.stem}-{key}.so"
        if target.exists():
            return target
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        run = subprocess.run([cc, *flags, "-fPIC", "-shared", str(source), "-o", str(tmp), "-lm"],
                             capture_output=True, text=True, timeout=300)
        if run.returncode == 0:
            os.replace(tmp, target)  # atomic: parallel test workers may compile at the same time
            return target
        errors.append(f"{' '.join(flags)}: {(run.stderr.strip().splitlines() or [run.returncode])[-1]}")
    raise RuntimeError("the C compiler failed: " + "; ".join(map(str, errors)))


def signatures(**functions):
    """ctypes argument types of each C function, for every dtype in :data:`SUFFIX`.

    ``signatures(ln_forward=(2, 1, 6))`` declares ``ln_forward_f32`` and
    ``ln_forward_f64`` as taking 2 ``int``, then 1 ``double``, then 6 pointers.
    """
    return {f"{fn}_{sfx}": [ctypes.c_int] * ints + [ctypes.c_double] * doubles + [ctypes.c_void_p] * pointers
            for fn, (ints, doubles, pointers) in functions.items() for sfx in SUFFIX.values()}


def load(name, signatures):
    """The compiled ``helpers/<name>.c`` as a :class:`ctypes.CDLL`, or ``None`` if it cannot be built.

    Args:
        name (str): the source's stem, e.g. ``"lstm_kernel"``.
        signatures (dict): function name -> list of ctypes argument types (see :func:`signatures`).
    """
    if name in _libs:  # the common case, without the lock
        return _libs[name]
    with _lock:
        if name not in _libs:
            try:
                lib = ctypes.CDLL(str(_compile(Path(__file__).with_name(f"{name}.c"))))
                for fn, argtypes in signatures.items():
                    getattr(lib, fn).argtypes = argtypes
                    getattr(lib, fn).restype = None
                _libs[name] = lib
            except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as err:
                _libs[name], _errors[name] = None, str(err)
    return _libs[name]


def why_not(name):
    """Why :func:`load` returned ``None`` for ``name`` ("" if it loaded or was not asked for)."""
    return _errors.get(name, "")


def available(name, signatures):
    """``(True, "")`` if ``helpers/<name>.c`` compiles and loads here, else ``(False, reason)``."""
    lib = load(name, signatures)
    return (lib is not None, "" if lib is not None else why_not(name))


def function(name, signatures, fn, dtype):
    """The C function ``<fn>_<suffix of dtype>`` of the loaded ``helpers/<name>.c``."""
    return getattr(load(name, signatures), f"{fn}_{SUFFIX[dtype]}")


def data_pointers(x):
    """Per-step data pointers of a contiguous ``(T, ...)`` tensor, made once (cheaper than indexing in a loop)."""
    base, step = x.data_ptr(), x.stride(0) * x.element_size()
    return [base + t * step for t in range(x.shape[0])]
