"""What a preset's claims are measured on, for presets without members: the snapshots of one
cached run per config (:func:`run_snapshots`), for the claim and for what it is compared against
(another stage, config change or preset), or the neuron problem of a zig-zag claim."""
from __future__ import annotations

from typing import Any

from .claims import Claim, Source
from .config import ConfigError
from .lockstep import Cancelled
from .presets import load_preset
from .simulation import Simulation

_RUNS: dict[tuple, dict[int, Any]] = {}


def run_snapshots(config, steps: list[int], stop=None) -> dict[int, Any]:
    """Snapshots of ``config`` after each of ``steps`` steps (one run, cached by config). ``stop``
    (a threading.Event) is looked at between chunks of training: once set, ``Cancelled``, and
    nothing unfinished is cached."""
    have = _RUNS.setdefault((config,), {})
    wanted = sorted(set(int(s) for s in steps) - set(have))
    if wanted:
        sim = Simulation(config)
        snap = sim.snapshot()
        chunk = max(1, config.every * 10)
        for target in wanted:
            stepped = False
            while target > sim.step_count and not sim.diverged:
                if stop is not None and stop.is_set():
                    raise Cancelled(f"stopped at step {sim.step_count} of {target}")
                sim.step(min(chunk, target - sim.step_count), snapshot=False)
                stepped = True
            if stepped:
                snap = sim.snapshot()
            have[target] = snap  # a diverged run keeps reading its last state
    return {s: have[s] for s in steps}


def clear_cache() -> None:
    _RUNS.clear()


def _config_for(preset, stage: int | None, member: str | None, changes: tuple, backend: str):
    config = preset.config
    if stage is not None:
        config = config.replace(**dict(preset.stages[stage].changes))
    if member is not None:
        labels = [m.label for m in preset.members]
        if member not in labels:
            raise ConfigError(f"{preset.name}: claim member", member, " | ".join(labels) or "no [[member]] tables")
        config = config.replace(**dict(preset.members[labels.index(member)].changes))
    if changes:
        config = config.replace(**dict(changes))
    return config.replace(backend=backend)


def _neuron_problem(preset, changes=()):
    from .surface import NeuronProblem
    table = dict(preset.extra.get("neuron", {}))
    if not table:
        raise ConfigError(f"{preset.name}: claim", "a neuron metric", "a [neuron] table in the preset")
    return NeuronProblem.from_dict(table)


def measure_sources(preset, claim: Claim, backend: str = "numpy", stop=None) -> dict:
    """Every snapshot (or neuron problem) ``claim`` needs, keyed for :func:`judge`."""
    out: dict = {}
    if claim.needs == "neuron":
        out[claim.key] = _neuron_problem(preset)
        if claim.against is not None:
            other = load_preset(claim.against.preset) if claim.against.preset else preset
            out[claim.against.key_for(claim)] = _neuron_problem(other)
        return out

    def default_steps(p, stage, member, changes):
        return _config_for(p, stage, member, changes, backend).steps

    own_cfg = _config_for(preset, claim.stage, claim.member, claim.changes, backend)
    at = claim.at_step if claim.at_step is not None else own_cfg.steps
    out[claim.key] = run_snapshots(own_cfg, [at], stop)[at]
    if claim.against is not None:
        a = claim.against
        key = a.key_for(claim)
        if isinstance(key, Source):
            other = load_preset(key.preset) if key.preset else preset
            cfg = _config_for(other, key.stage, key.member, key.changes, backend)
            step = key.at_step if key.at_step is not None else (at if key.preset is None else cfg.steps)
        else:
            cfg = _config_for(preset, claim.stage, key, claim.changes, backend)
            step = at
        out[key] = run_snapshots(cfg, [step], stop)[step]
    return out
