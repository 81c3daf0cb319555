"""The claim judge: parsing, metrics, comparisons (against, members, stages), and that it can fail."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

import engine.presets as presets
from engine import Config, ConfigError
from engine.check_cli import check_preset
from engine.claims import METRICS, Claim, Source, format_value, judge, measure, register_metric
from engine.evidence import run_snapshots
from engine.cli import main as cli_main

SMALL = Config(depth=3, width=8, activation="sigmoid", init="standard_uniform", steps=20, dataset="spiral",
               backend="numpy")


def claim(**kw):
    base = {"text": "t", "metric": "grad_ratio", "op": "<", "value": 1.0}
    base.update(kw)
    return Claim.from_dict(base)


@pytest.fixture(scope="module")
def snap():
    return run_snapshots(SMALL, [5])[5]


def test_metric_expressions_read_the_snapshot(snap):
    assert measure(snap, "grad_ratio") == pytest.approx(snap.grad_norms[0] / snap.grad_norms[-1])
    assert measure(snap, "grad_norms[-1]") == snap.grad_norms[-1]
    assert measure(snap, "mean(act_std)") == pytest.approx(snap.act_std.mean())
    assert measure(snap, "act_std[2] / act_std[0]") == pytest.approx(snap.act_std[2] / snap.act_std[0])
    assert measure(snap, "act_std_ratio") == pytest.approx(snap.act_std[-1] / snap.act_std[0])
    assert measure(snap, "diverged_by") == math.inf


def test_the_judge_can_fail(snap):
    ratio = snap.grad_ratio
    assert judge(claim(op="<", value=ratio * 2), snap).holds is True
    assert judge(claim(op="<", value=ratio / 2), snap).holds is False  # negative control
    assert judge(claim(op=">=", value=ratio), snap).holds is True
    assert judge(claim(op=">", value=ratio), snap).holds is False


def test_not_finite_never_holds(snap):
    fake = type("S", (), {"step": 3, "loss": float("nan")})()
    v = judge(claim(metric="loss", op="<", value=1.0), fake)
    assert v.holds is False and "not finite" in v.detail
    v = judge(claim(metric="loss", op=">", value=1.0), fake)
    assert v.holds is False


def test_against_with_factor_and_offset_and_missing_run(snap):
    c = claim(metric="grad_norms[0]", op="<", value=None,
              against={"metric": "grad_norms[-1]", "factor": 0.5, "offset": 0.0})
    v = judge(c, snap)
    assert v.reference == snap.grad_norms[-1] and v.threshold == pytest.approx(0.5 * snap.grad_norms[-1])
    assert v.holds == (snap.grad_norms[0] < 0.5 * snap.grad_norms[-1])
    m = claim(metric="loss", op="<", value=None, member="he", against={"metric": "loss", "member": "plain"})
    assert m.key == "he" and m.against.key_for(m) == "plain"
    low, high = run_snapshots(SMALL, [0, 20]).values()
    assert judge(m, {"he": high, "plain": low}).holds == (high.loss < low.loss)
    assert judge(m, {"he": high}).holds is None  # never an exception for a missing run
    assert judge(m, {}).holds is None


def test_keys_for_stage_preset_and_changes():
    c = Claim.from_dict({"text": "t", "metric": "loss", "op": "<", "against": {"metric": "loss", "stage": 0}},
                        stage=2)
    assert c.key is None and c.against.key_for(c) == Source(stage=0)
    c = claim(against={"metric": "loss", "preset": "dead-relu"}, value=None)
    assert c.against.key_for(c) == Source(preset="dead-relu")
    c = claim(set={"init": "he_normal"})
    assert c.key == Source(changes=(("init", "he_normal"),))


@pytest.mark.parametrize("bad, key", [
    ({"op": "=="}, "op"), ({"metric": "no_such"}, "metric"), ({"value": "1"}, "value"),
    ({"value": None}, "value"), ({"against": {"metric": "loss"}}, "value"), ({"at_step": -1}, "at_step"),
    ({"colour": 1}, "colour"), ({"set": {"nope": 1}}, "set.nope"), ({"text": ""}, "text"),
])
def test_bad_claims_name_the_key(bad, key):
    with pytest.raises(ConfigError) as info:
        claim(**bad)
    assert key in str(info.value)


def test_metrics_registry_is_extensible(snap):
    register_metric("test_twice_loss", lambda s: 2 * s.loss, "twice the loss")
    try:
        assert judge(claim(metric="test_twice_loss", op="<", value=2 * snap.loss + 1e-9), snap).holds
    finally:
        METRICS.pop("test_twice_loss")


def test_format_value_is_honest():
    assert format_value(float("nan")) == "not finite" and format_value(0.0) == "0"
    assert format_value(2.5e-13) == "2.50e-13" and format_value(0.5) == "0.5"


def _write(tmp_path, name, text):
    (tmp_path / f"{name}.toml").write_text(textwrap.dedent(text))


PRESET = """
[preset]
title = "t"
caption = "a caption that is long enough to be a caption for this test"
[config]
depth = 3
width = 8
activation = "sigmoid"
init = "standard_uniform"
steps = 20
"""


def test_members_and_stages_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    _write(tmp_path, "cmp", PRESET + """
[[member]]
label = "plain"
[[member]]
label = "relu"
set = { activation = "relu", init = "he_normal" }
[[claim]]
text = "relu's gradient ratio is above plain's"
metric = "grad_ratio"
op = ">"
member = "relu"
against = { metric = "grad_ratio", member = "plain" }
[[stage]]
caption = "x"
set = { depth = 4 }
[[stage.claim]]
text = "four hidden layers"
metric = "act_std[3]"
op = ">"
value = 0
""")
    p = presets.load_preset("cmp")
    assert [m.label for m in p.members] == ["plain", "relu"] and p.stage_config(0).depth == 4
    verdicts = check_preset("cmp")
    assert [v.holds for v in verdicts] == [True, True]
    assert verdicts[0].value > verdicts[0].reference


def test_check_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    _write(tmp_path, "good", PRESET + '[[claim]]\ntext = "vanishes"\nmetric = "grad_ratio"\nop = "<"\nvalue = 1\n')
    _write(tmp_path, "bad", PRESET.replace("steps = 20", "steps = 21") +
           '[[claim]]\ntext = "does not vanish"\nmetric = "grad_ratio"\nop = ">"\nvalue = 1\n')
    assert cli_main(["check", "--preset", "good"]) == 0
    assert "✓ vanishes" in capsys.readouterr().out
    assert cli_main(["check", "--all"]) == 1
    out = capsys.readouterr().out
    assert "✗ does not vanish" in out and "1 claim(s) do not hold" in out
    assert cli_main(["check"]) == 2
    assert cli_main(["check", "--preset", "missing"]) == 2
    with pytest.raises(SystemExit) as info:
        cli_main(["check", "--preset", "good", "--all"])
    assert info.value.code == 2


def test_fair_zigzag_comparison_finds_each_sides_best_rate():
    from engine.surface import NeuronProblem
    from engine.zigzag import best_stable_lr, fair_comparison
    p = NeuronProblem(inputs="sigmoid", start=(-1.0, 1.0), target=(2.0, -1.0), lr=0.75, steps=200)
    fc = fair_comparison(p)
    assert fc.positive_shared.problem.lr == fc.centred_shared.problem.lr == 0.75
    # the best rate is no worse than any rate on the grid, and it is stable (reaches the minimum)
    for lr in (0.3, 0.75, fc.positive_best.problem.lr):
        side = fair_comparison(p.replace(lr=lr)).positive_shared
        assert side.steps is None or fc.positive_best.steps <= side.steps
    assert fc.centred_best.problem.lr > fc.positive_best.problem.lr
    assert fc.best_steps_ratio > 2
    # a rate that diverges is never chosen
    huge = best_stable_lr(p, grid=(50.0, 1.0))
    assert huge.problem.lr == 1.0


def test_run_snapshots_in_chunks_equal_one_run_and_a_stop_caches_nothing():
    """The claim runs train in chunks so that a stop event can end them between chunks: the numbers
    are those of one uninterrupted run, and a cancelled run leaves nothing half-done in the cache."""
    import threading

    from engine import Simulation
    from engine.evidence import clear_cache
    from engine.lockstep import Cancelled
    clear_cache()
    cfg = SMALL.replace(every=1)                 # chunks of 10 steps
    snap = run_snapshots(cfg, [20])[20]
    ref = Simulation(cfg).step(20)
    assert snap.step == ref.step == 20
    assert snap.loss == ref.loss and snap.accuracy == ref.accuracy
    np.testing.assert_array_equal(snap.grad_norms, ref.grad_norms)

    clear_cache()
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        run_snapshots(cfg, [20], stop)
    from engine import evidence
    assert not evidence._RUNS.get((cfg,))       # nothing cached for a run that did not finish


def test_a_lockstep_run_stops_between_chunks():
    import threading

    from engine.lockstep import Cancelled, Lockstep, Member
    lock = Lockstep(SMALL, [Member("a", {}), Member("b", {"lr": 0.05})])
    stop = threading.Event()
    lock.run_to(4, chunk=2, stop=stop)
    assert [s.step_count for s in lock.sims] == [4, 4]
    stop.set()
    with pytest.raises(Cancelled):
        lock.run_to(10, chunk=2, stop=stop)
    assert [s.step_count for s in lock.sims] == [4, 4]
