"""Every preset states its claims as data; these tests judge them with the same code as `check`."""
from __future__ import annotations

import pytest

from engine.check_cli import check_preset
from engine.presets import preset_claims
from engine.presets import list_presets, load_preset, preset_names

REQUIRED = ["sigmoid-vanishing", "relu-fix", "dead-relu", "leaky-rescue", "init-naive-small",
            "init-naive-large", "init-xavier", "init-he", "elu-vs-relu", "batchnorm-rescue",
            "per-layer-lr", "exploding", "zigzag", "vanishing-tour"]


def test_required_presets_exist_with_title_caption_and_claims():
    names = preset_names()
    for name in REQUIRED:
        assert name in names
    for preset in list_presets():
        assert preset.title and len(preset.caption) > 40, preset.name
        assert preset_claims(preset), f"{preset.name} states no [[claim]]"
        for stage in preset.stages:
            assert stage.caption and stage.claims, (preset.name, stage.title)


def test_no_two_presets_share_a_config():
    seen = {}
    for preset in list_presets():
        key = preset.config.replace(seed=0)
        assert key not in seen, f"{preset.name} has the same config as {seen.get(key)}"
        seen[key] = preset.name


@pytest.mark.parametrize("name", preset_names())
def test_every_claim_holds(name):
    from engine.comparisons import ComparisonSkipped
    try:
        verdicts = check_preset(name)
    except ComparisonSkipped as exc:      # e.g. CPU vs GPU on a machine without a GPU
        pytest.skip(str(exc))
    assert verdicts
    for v in verdicts:
        assert v.holds is True, v.line()
        if v.at_step is not None and v.metric != "diverged_by":
            assert v.step == v.at_step, v.line()


def test_the_vanishing_stages_really_differ():
    preset = load_preset("vanishing-tour")
    configs = [preset.stage_config(i) for i in range(len(preset.stages))]
    assert [c.activation for c in configs] == ["sigmoid", "relu", "relu", "sigmoid"]
    assert configs[3].norm == "batch" and configs[2].init == "he_normal"
