"""Compiling and loading the book's C kernels (``*.c`` next to this file) with ctypes.

A kernel's source is compiled by the system's C compiler (``$CC``, else ``cc``)
the first time it is asked for, into a cache directory (``$LNBOOK_KERNEL_CACHE``,
else ``~/.cache/lnbook-helpers``, else the temporary directory), named by a hash
of the source, compiler, flags, platform and the CPU target the compiler resolves
``-march=native`` to; later sessions load it from there. Next to each library a
stamp (``<library>.target``) records that target, and a library whose stamp does
not match this machine's is never loaded: on a shared home directory a node of
another type would die of an illegal instruction, which no ``try`` can catch.
Where there is no compiler, the compiler fails, or the cached library is foreign
or does not load, :func:`load` returns ``None``, :func:`why_not` says why, a
one-line :class:`KernelFallbackWarning` says so once per kernel and process, and
the callers fall back to torch operations (``LNBOOK_NO_C_KERNEL`` switches the
kernels off without the warning). Nothing happens at import.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import torch

__all__ = ["KernelFallbackWarning", "SUFFIX", "signatures", "load", "why_not", "available", "function", "data_pointers"]

#: The dtypes the kernels are compiled for, and the suffix of their C functions' names.
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

#: Tried in order until one compiles. -fopenmp runs the kernels' `omp parallel for` blocks on
#: threads (the OpenMP runtime is libgomp.so.1, the one torch has already loaded, so both share one
#: pool of threads); without it (e.g. Apple's clang) the same code runs on one thread.
#: -fno-trapping-math lets the compiler vectorize floorf and the selects of the float32 exp;
#: -fopenmp-simd honours the kernels' `omp simd reduction` pragmas (no OpenMP runtime); the
#: widest-vector sets ask for 512-bit vectors (x86 compilers only).
_FAST = ["-O3", "-march=native", "-fopenmp-simd", "-fno-trapping-math"]
_WIDE = ["-mprefer-vector-width=512", "-funroll-loops"]
FLAGS = (["-fopenmp"] + _FAST + _WIDE, ["-fopenmp"] + _FAST, _FAST + _WIDE, _FAST,
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


class KernelFallbackWarning(RuntimeWarning):
    """A C kernel is not used here (no compiler, a failed build, a foreign or broken library): torch operations are."""


def _compiler():
    """The C compiler's path (``$CC``, else ``cc``); RuntimeError if the kernels are off or there is none."""
    if os.environ.get("LNBOOK_NO_C_KERNEL"):
        raise RuntimeError("switched off by the environment variable LNBOOK_NO_C_KERNEL")
    if sys.platform == "win32":
        raise RuntimeError("not built on Windows; the torch operations are used")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        raise RuntimeError(f"no C compiler found (looked for {os.environ.get('CC', 'cc')!r})")
    return cc


_targets = {}  # compiler path -> resolved target


def _target(cc):
    """What ``cc`` compiles ``-march=native`` for here: the CPU and instruction-set options, as one line.

    The cache is keyed by what the compiler *resolves* ``-march=native`` to (its driver's
    ``-###`` dry run, which runs nothing: GCC lists ``-march=znver3 -mavx2 -mno-avx512f ...``,
    Clang ``-target-cpu`` and its ``-target-feature`` list) rather than by /proc/cpuinfo's
    flags: it is exactly what decides the generated code, it works the same on Linux and
    macOS with GCC or Clang, and CPU flags that the compiler does not use (``hypervisor``,
    microcode quirks) do not split the cache between nodes that can share a library.
    """
    if cc not in _targets:
        try:
            run = subprocess.run([cc, "-march=native", "-###", "-x", "c", "-c", os.devnull, "-o", os.devnull],
                                 capture_output=True, text=True, timeout=60)
            words = []
            for line in run.stderr.splitlines():
                if line.startswith("COLLECT_GCC_OPTIONS"):
                    continue
                try:
                    tokens = shlex.split(line)
                except ValueError:
                    continue
                for i, tok in enumerate(tokens):
                    if tok in ("-target-cpu", "-tune-cpu", "-target-feature") and i + 1 < len(tokens):
                        words.append(f"{tok} {tokens[i + 1]}")
                    elif tok.startswith("-m"):  # -march=znver3, -mavx2, -mno-avx512f, ...
                        words.append(tok)
            target = " ".join(words) or f"unresolved (exit status {run.returncode})"
        except (OSError, subprocess.SubprocessError) as err:
            target = f"unresolved ({type(err).__name__})"
        _targets[cc] = f"{sys.platform} {platform.machine()}: {target}"
    return _targets[cc]


def _entry(source, cc, flags, target):
    """The cache path of ``source`` built by ``cc`` with ``flags`` for ``target``."""
    text = source.read_bytes()
    key = hashlib.sha256(b"\0".join([text, cc.encode(), " ".join(flags).encode(), sys.platform.encode(),
                                      target.encode()])).hexdigest()[:16]
    return _cache_dir() / f"{source.stem}-{key}.so"


def _stamp(library):
    """The file next to a cached library that records the target it was built for."""
    return library.with_name(library.name + ".target")


def _check_stamp(library, target):
    """RuntimeError unless ``library``'s stamp says it was built for ``target`` (never load a foreign library)."""
    try:
        stamped = _stamp(library).read_text().strip()
    except OSError:
        stamped = None
    if stamped != target:
        what = "has no target stamp" if stamped is None else f"was built for another CPU ({stamped[:60]}...)"
        raise RuntimeError(f"the cached library {library} {what}; not loaded (delete it to rebuild)")


def _compile(source):
    """Compile ``source`` into the cache (once per source, compiler, flags and target); return the library's path."""
    cc = _compiler()
    target = _target(cc)
    errors = []
    for flags in FLAGS:
        library = _entry(source, cc, flags, target)
        if library.exists():
            _check_stamp(library, target)
            return library
        tmp = library.with_suffix(f".{os.getpid()}.tmp")
        run = subprocess.run([cc, *flags, "-fPIC", "-shared", str(source), "-o", str(tmp), "-lm"],
                             capture_output=True, text=True, timeout=300)
        if run.returncode == 0:
            # The stamp first, then the library, each atomically (parallel test workers may compile at
            # the same time): wherever a library exists, its stamp does.
            stamp_tmp = _stamp(tmp)
            stamp_tmp.write_text(target + "\n")
            os.replace(stamp_tmp, _stamp(library))
            os.replace(tmp, library)
            return library
        tmp.unlink(missing_ok=True)
        last = (run.stderr.strip().splitlines() or [""])[-1].strip()
        errors.append((" ".join(flags), f"exit status {run.returncode}" + (f": {last}" if last else ", no message")))
    if len({why for _, why in errors}) == 1:
        detail = f"with each of the {len(errors)} flag sets tried ({errors[0][1]})"
    else:
        detail = "; ".join(f"with {flags}: {why}" for flags, why in errors)
    raise RuntimeError(f"the C compiler {cc} could not build {source.name} {detail}")


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
            source = Path(__file__).with_name(f"{name}.c")
            try:
                library = _compile(source)
                try:
                    lib = ctypes.CDLL(str(library))
                    for fn, argtypes in signatures.items():
                        getattr(lib, fn).argtypes = argtypes
                        getattr(lib, fn).restype = None
                except (OSError, AttributeError) as err:
                    raise RuntimeError(f"the cached library {library} does not load "
                                       f"({' '.join(str(err).split())}); delete it to rebuild") from None
                _libs[name] = lib
            except (OSError, RuntimeError, subprocess.SubprocessError) as err:
                _libs[name], _errors[name] = None, " ".join(str(err).split())
                if not os.environ.get("LNBOOK_NO_C_KERNEL"):
                    # One line ("helpers/lstm_kernel.c:0: KernelFallbackWarning: ..."): lineno 0 shows no source line.
                    warnings.warn_explicit(f"not used, torch operations run instead (same results, slower): "
                                           f"{_errors[name]}", KernelFallbackWarning, f"helpers/{source.name}", 0,
                                           module=__name__)
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
