"""Lockstep: members see the same data and batches in the same order; digests prove it and can fail."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, ConfigError
from engine.lockstep import Lockstep, Member, member_labels, members_from_table, members_from_vary
from engine.simulation import Simulation

BASE = Config(depth=3, width=8, activation="tanh", dataset="spiral", n_samples=120, batch_size=16,
              steps=50, backend="numpy", seed=3)


def test_members_share_batches_and_step_counts():
    members = [Member("sigmoid", {"activation": "sigmoid"}), Member("relu", {"activation": "relu"}),
               Member("centred", {"center_inputs": True}), Member("lr", {"lr": 0.02})]
    lock = Lockstep(BASE, members)
    lock.run_to(45, chunk=7)        # 45 steps with 96 training rows / 16 = several epochs
    lock.step(5)
    d = lock.digests()
    assert [x["steps"] for x in d] == [50] * 4 == lock.step_counts
    assert len({x["batch_digest"] for x in d}) == 1
    assert len({x["data_digest"] for x in d}) == 1
    assert lock.same_batches()
    # the digests are of what the members really drew: a member trained one more step differs
    lock.sims[1].step(1)
    d2 = lock.digests()
    assert d2[1]["batch_digest"] != d2[0]["batch_digest"] and d2[0] == d[0]
    assert lock.same_batches()          # one ahead: still the same order (a prefix)
    # negative control: a member whose batch order really differs is caught
    other = Lockstep(BASE, members[:2])
    other.sims[1]._batch_rng._rng = np.random.default_rng(99)
    other.run_to(20)
    assert not other.same_batches()
    assert other.digests()[0]["batch_digest"] != other.digests()[1]["batch_digest"]


def test_lockstep_members_equal_single_runs():
    """A member in lockstep is the same run as that config trained alone (no cross-talk)."""
    members = [Member("a", {"activation": "relu"}), Member("b", {"init": "he_normal"})]
    lock = Lockstep(BASE, members)
    snaps = lock.run_to(30, chunk=10)
    for member, snap in zip(members, snaps):
        alone = Simulation(member.config(BASE)).step(30)
        np.testing.assert_array_equal(alone.grad_norms, snap.grad_norms)
        assert alone.loss == snap.loss


def test_digest_differs_for_another_batch_order():
    a = Lockstep(BASE, [Member("x", {}), Member("y", {"lr": 0.2})])
    b = Lockstep(BASE.replace(seed=4), [Member("x", {}), Member("y", {"lr": 0.2})])
    a.run_to(20)
    b.run_to(20)
    assert a.digests()[0]["batch_digest"] != b.digests()[0]["batch_digest"]
    assert a.digests()[0]["data_digest"] != b.digests()[0]["data_digest"]


@pytest.mark.parametrize("changes", [{"seed": 1}, {"batch_size": 8}, {"dataset": "xor"}, {"steps": 10}])
def test_members_may_not_change_data_or_batches(changes):
    with pytest.raises(ConfigError, match="one value for every member"):
        Lockstep(BASE, [Member("a", {}), Member("b", changes)])


def test_member_count_and_labels_checked():
    with pytest.raises(ConfigError, match="2 to 4"):
        Lockstep(BASE, [Member("a", {})])
    with pytest.raises(ConfigError, match="2 to 4"):
        Lockstep(BASE, [Member(str(i), {"lr": 0.01 * (i + 1)}) for i in range(5)])
    with pytest.raises(ConfigError, match="different label"):
        Lockstep(BASE, [Member("a", {}), Member("a", {"lr": 0.2})])
    with pytest.raises(ConfigError, match="member 'b': lr"):
        Lockstep(BASE, [Member("a", {}), Member("b", {"lr": -1.0})])


def test_members_from_vary_and_table():
    ms = members_from_vary(["init=xavier_uniform,he_normal"])
    assert [m.label for m in ms] == ["init=xavier_uniform", "init=he_normal"]
    assert members_from_vary(["width=4:4:4,8:8:8"])[1].changes == {"width": (8, 8, 8)}
    with pytest.raises(ConfigError, match="exactly one"):
        members_from_vary(["lr=0.1,0.2", "depth=2,3"])
    with pytest.raises(ConfigError, match="unknown config key"):
        members_from_vary(["lrr=0.1,0.2"])
    ms = members_from_table([{"label": "He", "set": {"init": "he_normal", "lr": 1}}, {"set": {"lr": 0.5}}])
    assert ms[0].changes == {"init": "he_normal", "lr": 1.0} and ms[1].label == "lr=0.5"
    with pytest.raises(ConfigError, match="label | set"):
        members_from_table([{"lable": "x"}])
    configs = [BASE.replace(init="he_normal"), BASE.replace(init="xavier_normal", lr=0.05)]
    assert member_labels(configs) == ["init=he_normal, lr=0.1", "init=xavier_normal, lr=0.05"]


def test_steps_to_loss_uses_a_window_mean():
    lock = Lockstep(BASE.replace(activation="relu", init="he_normal", lr=0.1),
                    [Member("a", {}), Member("b", {"lr": 0.001})])
    lock.run_to(50, chunk=9)
    steps, losses = lock.loss_history(0)
    assert list(steps) == list(range(50))
    t = float(np.mean(losses[-10:]))
    got = lock.steps_to_loss(0, t)
    mean = np.convolve(losses, np.ones(10) / 10, mode="valid")
    assert got == int(np.flatnonzero(mean <= t)[0]) + 10 and got <= 50
    assert lock.steps_to_loss(1, 1e-6) is None
