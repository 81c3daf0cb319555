"""A Simulation's complete training state as plain data, and back: what checkpoints and sessions
store so that a restored run continues with exactly the numbers an uninterrupted one would have.

State = parameters (the flat buffer: weights, biases, norm gains, prelu slopes), the last gradient,
the optimiser's buffers and step counter, batch norm's running statistics, the random streams
(batch order and noisy_relu's noise) with the position in the current epoch, and the counters.
Arrays go in ``arrays`` (NumPy), everything else in ``meta`` (JSON-able).
"""
from __future__ import annotations

import numpy as np

from .backend import to_numpy

STATE_VERSION = 1
_OPT_BUFFERS = ("update", "v", "m", "s")


class StateError(ValueError):
    """A stored state does not fit this simulation (other config, other version, damaged)."""


def _rng_state(gen) -> dict:
    bitgen = getattr(gen, "bit_generator", None)
    if bitgen is None or not hasattr(bitgen, "state"):
        raise StateError(f"the random stream {type(gen).__name__} cannot be saved on this backend")
    return _jsonable(bitgen.state)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    return value


def _from_jsonable(value):
    if isinstance(value, dict):
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    return value


def get_state(sim) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) describing ``sim`` completely; NumPy copies, nothing shared."""
    net, opt = sim.network, sim.optimizer
    arrays = {"theta": to_numpy(net.theta).copy(), "grad": to_numpy(net.grad).copy()}
    for name in _OPT_BUFFERS:
        if hasattr(opt, name):
            arrays[f"opt_{name}"] = to_numpy(getattr(opt, name)).copy()
    for l, (mean, var) in enumerate(zip(net.running_mean, net.running_var)):
        arrays[f"running_mean_{l}"] = to_numpy(mean).copy()
        arrays[f"running_var_{l}"] = to_numpy(var).copy()
    if sim._perm is not None:
        arrays["perm"] = to_numpy(sim._perm).copy()
    last = sim._last_loss
    meta = {
        "version": STATE_VERSION,
        "config": sim.config.to_dict(),
        "step_count": int(sim.step_count),
        "diverged": bool(sim.diverged),
        "diverged_at": int(sim.diverged_at),
        "last_loss": None if last is None else float(last),
        "steps_per_second": float(sim._steps_per_second),
        "opt_t": int(opt.t),
        "pos": int(sim._pos),
        "batch_rng": _rng_state(sim._batch_rng),
        "noise_rng": _rng_state(sim._noise_rng),
        "n_params": int(net.n_params),
    }
    return meta, arrays


def set_state(sim, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Restore ``sim`` (built from the same config) to a state from ``get_state``."""
    from .config import Config

    if meta.get("version") != STATE_VERSION:
        raise StateError(f"state version {meta.get('version')!r}, this program reads version {STATE_VERSION}")
    if Config.from_dict(meta["config"]).replace(steps=sim.config.steps) != sim.config:  # steps may grow
        raise StateError("the stored state belongs to a different config")
    net, opt, xp = sim.network, sim.optimizer, sim.xp
    if int(meta["n_params"]) != net.n_params or np.shape(arrays["theta"]) != (net.n_params,):
        raise StateError(f"the stored state has {np.shape(arrays['theta'])} parameters, the network {net.n_params}")
    def put(dst, key):
        src = np.asarray(arrays[key])
        if src.shape != tuple(dst.shape):
            raise StateError(f"stored '{key}' has shape {src.shape}, expected {tuple(dst.shape)}")
        dst[...] = xp.asarray(src, dtype=dst.dtype)

    put(net.theta, "theta")
    put(net.grad, "grad")
    for name in _OPT_BUFFERS:
        if hasattr(opt, name):
            put(getattr(opt, name), f"opt_{name}")
    for l, (mean, var) in enumerate(zip(net.running_mean, net.running_var)):
        put(mean, f"running_mean_{l}")
        put(var, f"running_var_{l}")
    opt.t = int(meta["opt_t"])
    sim._perm = xp.asarray(np.asarray(arrays["perm"])) if "perm" in arrays else None
    sim._pos = int(meta["pos"])
    sim._batch_rng.bit_generator.state = _from_jsonable(meta["batch_rng"])
    sim._noise_rng.bit_generator.state = _from_jsonable(meta["noise_rng"])
    sim.step_count = int(meta["step_count"])
    sim.diverged, sim.diverged_at = bool(meta["diverged"]), int(meta["diverged_at"])
    sim._last_loss = meta["last_loss"]
    sim._steps_per_second = float(meta["steps_per_second"])
    sim._hist_steps, sim._hist_loss, sim._hist_gn = [], [], []
    sim._metrics = None      # the kept evaluation was of the parameters before
    net.caches = []          # the probes refill from one batch if a snapshot comes before a step
    sim._probe_step = -1
