"""Comparison presets: members load, every claim holds on the lockstep run with the numbers measured
here, `check` judges them through engine.claims, and the judge can say "fails"."""
from __future__ import annotations

import math

import pytest

from engine import ConfigError
from engine.check_cli import check_preset
from engine.claims import Claim
from engine.comparisons import (ComparisonSkipped, MemberMeasurement, check_comparison, judge, load_comparison,
                                run_and_judge)
from engine.lockstep import MAX_MEMBERS, MIN_MEMBERS
from engine.presets import preset_names

COMPARISONS = [n for n in preset_names() if n.startswith("cmp-")]
REQUIRED = ["cmp-sigmoid-relu", "cmp-init", "cmp-he-2015", "cmp-relu-elu", "cmp-dead-leaky",
            "cmp-batchnorm", "cmp-centred-inputs", "cmp-layer-lr", "cmp-cpu-gpu"]


def test_required_comparisons_exist():
    assert set(REQUIRED) <= set(COMPARISONS)
    assert len(load_comparison("cmp-init").members) == 4
    assert load_comparison("cmp-relu-elu").loss_threshold == 0.3
    assert load_comparison("cmp-cpu-gpu").requires == "gpu"


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
        assert v.holds is True, f"{name}: {v.member}: {v.line()}"
        assert v.member in comp.labels
        if v.metric != "diverged_by":      # a diverged run stops at the step after the first bad one
            assert v.step == (v.at_step if v.at_step is not None else comp.base.steps), v.line()


def test_check_preset_uses_the_lockstep_run():
    """`check` (engine.check_cli.check_preset) gives the same verdicts as the lockstep judge."""
    a = check_preset("cmp-relu-elu")
    b = check_comparison("cmp-relu-elu")
    assert [(v.value, v.threshold, v.holds) for v in a] == [(v.value, v.threshold, v.holds) for v in b]
    assert a[0].metric == "steps_to_loss" and 0 < a[0].value < math.inf


def test_judge_can_fail():
    """Negative control: the same measurements against claims that are false."""
    comp = load_comparison("cmp-sigmoid-relu")
    lock, verdicts = run_and_judge(comp)
    step = comp.base.steps

    def claim(**kw):
        return Claim.from_dict({"text": "t", **kw})
    assert not judge(comp, claim(metric="grad_ratio", member="sigmoid", op=">", value=1e-4), lock, step).holds
    assert not judge(comp, claim(metric="accuracy", member="sigmoid", op=">", value=0.8), lock, step).holds
    assert not judge(comp, claim(metric="accuracy", member="sigmoid", op=">",
                                 against={"metric": "accuracy", "member": "ReLU"}), lock, step).holds
    never = judge(comp, claim(metric="steps_to_loss", member="ReLU", op="<=", value=1e9), lock, step)
    assert math.isnan(never.value) and never.holds is False     # this preset sets no loss_threshold
    m = MemberMeasurement(lock.snapshots()[1], lock, 1, 1e-9, step)
    assert m.steps_to_loss == math.inf and m.step == step
    assert m.steps_per_second > 0


def test_bad_claims_are_clear_errors(tmp_path, monkeypatch):
    import engine.presets as presets
    (tmp_path / "cmp-bad.toml").write_text(
        '[preset]\ntitle = "x"\n[config]\ndepth = 2\n[[member]]\nlabel = "a"\n[[member]]\nlabel = "b"\n'
        'set = { lr = 0.5 }\n[[claim]]\ntext = "t"\nmetric = "loss"\nmember = "c"\nop = "<"\nvalue = 1\n')
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    with pytest.raises(ConfigError, match="claim\\[0\\].member"):
        load_comparison("cmp-bad")
    with pytest.raises(ConfigError, match="comparison preset"):
        (tmp_path / "single.toml").write_text('[preset]\ntitle = "x"\n[config]\ndepth = 2\n[[claim]]\ntext = "t"\n'
                                              'metric = "loss"\nop = "<"\nvalue = 1\n')
        load_comparison("single")
