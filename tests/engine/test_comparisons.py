"""Comparison presets: members load, every claim holds with the numbers measured here, and the
judge can say "fails"."""
from __future__ import annotations

import math

import pytest

from engine import ConfigError
from engine.comparisons import (ComparisonSkipped, check_comparison, judge, load_comparison,
                                run_and_judge)
from engine.lockstep import MAX_MEMBERS, MIN_MEMBERS
from engine.presets import preset_names

COMPARISONS = [n for n in preset_names() if n.startswith("cmp-")]
REQUIRED = ["cmp-sigmoid-relu", "cmp-init", "cmp-he-2015", "cmp-relu-elu", "cmp-dead-leaky",
            "cmp-batchnorm", "cmp-centred-inputs", "cmp-layer-lr", "cmp-cpu-gpu"]


def test_required_comparisons_exist():
    assert set(REQUIRED) <= set(COMPARISONS)
    assert len(load_comparison("cmp-init").members) == 4


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparison_claims_hold(name):
    comp = load_comparison(name)
    assert MIN_MEMBERS <= len(comp.members) <= MAX_MEMBERS and comp.claims
    try:
        verdicts = check_comparison(name)
    except ComparisonSkipped as exc:
        assert comp.requires == "gpu"
        pytest.skip(str(exc))
    assert len(verdicts) == len(comp.claims)
    for v in verdicts:
        assert v.holds, f"{name}: {v.member}: {v.text}: {v.describe()}"
        assert math.isfinite(v.value) or v.value == math.inf


def test_judge_can_fail():
    """Negative control: the same measurements against claims that are false."""
    comp = load_comparison("cmp-sigmoid-relu")
    lock, verdicts = run_and_judge(comp)
    snaps = lock.snapshots()
    flipped = dict(comp.claims[0], op=">")                       # sigmoid ratio > 1e-4: false
    assert not judge(flipped, lock, snaps, comp.base.steps).holds
    swapped = dict(comp.claims[2], member="sigmoid")             # sigmoid accuracy > 0.8: false
    assert not judge(swapped, lock, snaps, comp.base.steps).holds
    against = {"text": "t", "metric": "accuracy", "member": "sigmoid", "op": ">",
               "against": {"metric": "accuracy", "member": "ReLU", "factor": 1.0}}
    assert not judge(against, lock, snaps, comp.base.steps).holds
    never = {"text": "t", "metric": "steps_to_loss", "threshold": 1e-9, "member": "ReLU", "op": "<=",
             "value": 1e9}
    v = judge(never, lock, snaps, comp.base.steps)
    assert v.value == math.inf and not v.holds


def test_bad_claims_are_clear_errors(tmp_path, monkeypatch):
    import engine.presets as presets
    (tmp_path / "cmp-bad.toml").write_text(
        '[preset]\ntitle = "x"\n[config]\ndepth = 2\n[[member]]\nlabel = "a"\n[[member]]\nlabel = "b"\n'
        'set = { lr = 0.5 }\n[[claim]]\ntext = "t"\nmetric = "loss"\nmember = "c"\nop = "<"\nvalue = 1\n')
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    with pytest.raises(ConfigError, match="claim\\[0\\].member"):
        load_comparison("cmp-bad")
