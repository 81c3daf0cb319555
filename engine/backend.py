"""Pick the array module once (NumPy or CuPy) and say why; the rest of the engine just uses ``xp``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

ENV_VAR = "GRADFLOW_BACKEND"


class BackendError(RuntimeError):
    """The requested backend cannot be used here (e.g. CuPy asked for, no usable GPU)."""


@dataclass(frozen=True)
class Backend:
    name: str          # "numpy" | "cupy"
    xp: ModuleType     # the array module
    device: str        # human-readable device description
    reason: str        # why this backend was chosen

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return to_numpy(a)

    def synchronize(self) -> None:
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()


def to_numpy(a) -> np.ndarray:
    """A NumPy array for any array we make (CuPy arrays are copied to the host)."""
    get = getattr(a, "get", None)
    if get is not None and not isinstance(a, np.ndarray):
        return get()
    return np.asarray(a)


def _cpu_description() -> str:
    threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count() or 1)
    return f"CPU (NumPy {np.__version__}, {threads} thread{'' if threads == '1' else 's'})"


def _numpy_backend(reason: str) -> Backend:
    return Backend("numpy", np, _cpu_description(), reason)


_cupy_cache: tuple[Backend | None, str] | None = None


def _try_cupy() -> tuple[Backend | None, str]:
    """Import CuPy and run a tiny allocate-and-compute self-test on the device; cached per process.

    ``import cupy`` succeeds without a GPU and only allocations fail, so importing is not enough.
    """
    global _cupy_cache
    if _cupy_cache is not None:
        return _cupy_cache
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        _cupy_cache = (None, f"CuPy is not installed ({type(exc).__name__}: {exc})")
        return _cupy_cache
    try:
        if not cupy.cuda.is_available():
            raise RuntimeError("no CUDA device is available")
        a = cupy.arange(16, dtype=cupy.float32).reshape(4, 4)
        got = float((a @ a.T).sum().get())
        want = float((np.arange(16, dtype=np.float32).reshape(4, 4) @ np.arange(16, dtype=np.float32).reshape(4, 4).T).sum())
        if abs(got - want) > 1e-3 * abs(want):
            raise RuntimeError(f"self-test gave {got}, expected {want}")
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        _cupy_cache = (Backend("cupy", cupy, f"GPU {name} (CuPy {cupy.__version__})", "CuPy self-test passed"), "")
    except Exception as exc:  # CUDARuntimeError is a RuntimeError; driver errors vary
        _cupy_cache = (None, f"CuPy is installed but the GPU self-test failed ({type(exc).__name__}: {exc})")
    return _cupy_cache


def resolve(requested: str = "auto") -> Backend:
    """Return the backend for ``requested`` ("auto" | "numpy" | "cupy").

    "auto" defers to the GRADFLOW_BACKEND environment variable when it is set, then uses CuPy only
    when its self-test passes, else NumPy with the reason. An explicit "cupy" that cannot run raises
    BackendError with the reason.
    """
    source = "config"
    if requested == "auto":
        env = os.environ.get(ENV_VAR, "").strip().lower()
        if env and env != "auto":
            if env not in ("numpy", "cupy"):
                raise BackendError(f"{ENV_VAR}={env!r} is not a backend (allowed: auto | numpy | cupy)")
            requested, source = env, ENV_VAR
    if requested == "numpy":
        return _numpy_backend(f"NumPy requested ({source})")
    if requested == "cupy":
        backend, why = _try_cupy()
        if backend is None:
            raise BackendError(f"the cupy backend was requested ({source}) but cannot run: {why}")
        return backend
    if requested != "auto":
        raise BackendError(f"unknown backend {requested!r} (allowed: auto | numpy | cupy)")
    backend, why = _try_cupy()
    if backend is not None:
        return backend
    return _numpy_backend(f"auto: using NumPy because {why}")


def cupy_available() -> bool:
    return _try_cupy()[0] is not None
