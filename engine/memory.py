"""Up-front memory estimates: refuse a run the machine cannot hold before allocating anything.

The estimate counts what a Simulation allocates (dataset, flat parameter buffers and optimiser
state, the training workspace and caches for one batch, a full-set evaluation, a snapshot's
copies) with the config's dtype. It is deliberately on the high side: refusing a run that would
have fitted is a message, running out of memory half-way is a lost run.
"""
from __future__ import annotations

import os
import re

from .config import Config, ConfigError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
          "tib": 1 << 40}
HEADROOM = 0.8  # use at most this share of the memory the system reports as available


def parse_size(text: str) -> int:
    """``"2G"``, ``"512MB"``, ``"1.5GiB"``, ``"1000000"`` -> bytes (a ConfigError otherwise)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise ConfigError("--max-memory", text, "a size such as 512M, 2G or 1.5GB")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def available_bytes() -> int | None:
    """Memory the OS says a new allocation can use (MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _io_sizes(config: Config) -> tuple[int, int]:
    # inputs and outputs without building the dataset: digits is 64 -> 10, the others 2D or 1D
    from .datasets import DATASETS
    entry = DATASETS[config.dataset]
    n_in = 64 if config.dataset == "digits" else 2
    n_out = max(1, getattr(entry, "n_classes", 1) or 1)
    return n_in, n_out


def n_parameters(config: Config) -> int:
    n_in, n_out = _io_sizes(config)
    sizes = [n_in, *config.widths, n_out]
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if config.norm != "none":
        n += 2 * sum(config.widths)
    return n + config.depth


def estimate_simulation(config: Config) -> int:
    """Bytes a Simulation of ``config`` needs at its peak (training plus a snapshot)."""
    item = 4 if config.dtype == "float32" else 8
    n_in, n_out = _io_sizes(config)
    n_train = int(config.n_samples * (1 - config.test_fraction)) + 1
    batch = config.batch_size if 0 < config.batch_size < n_train else n_train
    units = sum(config.widths) + n_out
    p = n_parameters(config)
    data = config.n_samples * (n_in + n_out) * (8 + item)           # host float64 + backend copies
    params = p * item * 9 + p * 8 * 4                                # theta, grad, lr, update, state,
    #                                                                  probes, clip copy; f64 snapshot copies
    train = batch * (units * item * 5 + n_in * item * 2)             # a, h, d, g, caches, signals, input
    widest = max(max(config.widths), n_out, n_in)
    evaluate = n_train * widest * item * 4                           # full-set eval, a few layers live
    return int(data + params + train + evaluate + 64 * (1 << 20))    # + interpreter and libraries


def estimate_grid(config: Config, points: int, chunk: int = 256, threads: int = 2) -> int:
    """Bytes a loss grid of ``points`` points needs on top of the Simulation."""
    item = 4 if config.dtype == "float32" else 8
    n_in, n_out = _io_sizes(config)
    n_train = int(config.n_samples * (1 - config.test_fraction)) + 1
    widest = max(max(config.widths), n_out, n_in)
    per_chunk = min(chunk, points) * (n_parameters(config) * item + n_train * widest * item * 3)
    return int(per_chunk * threads + points * 8 * 3)


def check_fits(needed: int, what: str, limit: int | None = None) -> None:
    """Raise a ConfigError naming the estimate when ``needed`` exceeds ``limit`` or the machine."""
    avail = available_bytes()
    if limit is not None and needed > limit:
        raise ConfigError("--max-memory", human(limit), f"at least {human(needed)}",
                          f"{what} needs about {human(needed)} of memory (estimated before allocating), "
                          f"more than --max-memory {human(limit)}: make it smaller (width, depth, "
                          "n_samples, batch_size, resolution) or raise the limit")
    if avail is not None and needed > avail * HEADROOM:
        raise ConfigError("memory", human(needed), f"at most {human(avail * HEADROOM)}",
                          f"{what} needs about {human(needed)} of memory (estimated before allocating), "
                          f"but this machine has {human(avail)} available: make it smaller (width, depth, "
                          "n_samples, batch_size, resolution)")


def check_config(config: Config, limit: int | None = None) -> int:
    """Refuse ``config`` up front if it cannot fit; returns the estimate in bytes."""
    needed = estimate_simulation(config)
    shape = "x".join(map(str, config.widths))
    check_fits(needed, f"this network ({config.depth} hidden layers of {shape}, {config.n_samples:,} samples, "
                       f"batch {config.batch_size or 'full'})", limit)
    return needed
