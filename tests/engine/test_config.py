"""Config: every bad value is refused with a message naming the key, the value and what is
allowed; TOML round trips; --set parsing; atomic saves."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import config as config_module
from engine.config import FIELD_NAMES, Config, ConfigError, parse_value

# (key, bad value, a word the "allowed" text must contain)
BAD_VALUES = [
    ("depth", 0, "1 to 50"), ("depth", 51, "1 to 50"), ("depth", 2.0, "integer"), ("depth", True, "integer"),
    ("depth", "3", "integer"),
    ("width", 0, "1 to 1024"), ("width", 1025, "1 to 1024"), ("width", (8, 8), "list of 4"),
    ("width", (8, 8, 8, 0), "list of 4"), ("width", 4.5, "integer"),
    ("activation", "relu6", "tanh"), ("activation", "ReLU", "relu"),
    ("leaky_slope", 1.0, "[0, 1)"), ("leaky_slope", -0.1, "[0, 1)"),
    ("prelu_init", 1, "[0, 1)"),
    ("elu_alpha", 0.0, "(0, 10]"), ("elu_alpha", 11.0, "(0, 10]"),
    ("noise_std", -1.0, "[0, 10]"),
    ("init", "glorot", "xavier_uniform"),
    ("init_sigma", 0.0, "(0, 100]"), ("init_sigma", float("nan"), "(0, 100]"),
    ("init_gain", 0.0, "(0, 100]"),
    ("bias_init", 101.0, "[-100, 100]"), ("bias_init", float("-inf"), "[-100, 100]"),
    ("norm", "group", "batch"),
    ("norm_momentum", 0.0, "(0, 1]"),
    ("center_inputs", 1, "true | false"), ("center_inputs", "yes", "true | false"),
    ("loss", "hinge", "softmax_ce"),
    ("optimizer", "adagrad", "adam"),
    ("lr", 0.0, "(0, 100]"), ("lr", -0.1, "(0, 100]"), ("lr", 101.0, "(0, 100]"),
    ("lr", float("nan"), "(0, 100]"), ("lr", float("inf"), "(0, 100]"), ("lr", "0.1", "(0, 100]"),
    ("layer_lr", (1.0, 1.0), "5 numbers"), ("layer_lr", (1.0, 1.0, -1.0, 1.0, 1.0), "5 numbers"),
    ("momentum", 1.0, "[0, 1)"), ("beta2", 1.0, "[0, 1)"), ("beta2", -0.5, "[0, 1)"),
    ("eps", 0.0, "(0, 1]"),
    ("weight_decay", 2.0, "[0, 1]"),
    ("clip_norm", -1.0, ">= 0"),
    ("batch_size", -1, ">= 0"), ("batch_size", 1.5, ">= 0"),
    ("dataset", "mnist", "digits"),
    ("n_samples", 5, "10 to"),
    ("noise", -0.1, "[0, 10]"),
    ("test_fraction", 0.95, "[0, 0.9]"),
    ("seed", -1, "2**32"), ("seed", 2**32, "2**32"),
    ("backend", "tpu", "cupy"),
    ("dtype", "float16", "float32"),
    ("steps", -1, ">= 0"),
    ("every", 0, ">= 1"),
    # residual, convolutional and file-data fields (issue 11)
    ("residual", 1, "true | false"), ("residual_every", 0, "1 to 50"),
    ("arch", "rnn", "cnn"), ("channels", (8, 0), "1 to 256"), ("channels", (), "one per conv layer"),
    ("kernel_size", 0, "1 to 15"), ("stride", 5, "1 to 4"), ("padding", 3, "kernel_size - 1"),
    ("pool", "min", "max"), ("pool_every", 0, "1 to 50"),
    ("data_file", 3, ".csv"), ("target_column", 1.5, "column name"), ("task", "ranking", "regression"),
    ("standardize", "yes", "true | false"), ("data_sha256", 1, "SHA-256"),
]


def test_the_table_covers_every_field():
    assert {key for key, _, _ in BAD_VALUES} == set(FIELD_NAMES)


@pytest.mark.parametrize("key,value,allowed", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_names_key_value_and_allowed(key, value, allowed):
    with pytest.raises(ConfigError) as info:
        Config(**{key: value})
    err = info.value
    message = str(err)
    assert err.key == key
    assert f"'{key}'" in message
    assert repr(value) in message or (isinstance(value, float) and math.isnan(value) and "nan" in message)
    assert "allowed" in message and allowed in message, message


@pytest.mark.parametrize("key,value,allowed", BAD_VALUES[:12], ids=[f"{k}" for k, _, _ in BAD_VALUES[:12]])
def test_replace_validates_too(key, value, allowed):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        Config().replace(**{key: value})


def test_good_values_at_the_edges_are_accepted():
    Config(depth=1, width=1, leaky_slope=0.0, lr=100.0, test_fraction=0.9, seed=2**32 - 1, batch_size=0,
           momentum=0.0, beta2=0.0, layer_lr=(0.0, 1e6))
    Config(depth=50, width=1024, elu_alpha=10.0)
    Config(depth=3, width=[4, 5, 6], layer_lr=[1, 2, 3, 4])  # lists become tuples


def test_lists_become_tuples_and_the_config_is_hashable():
    c = Config(depth=2, width=[3, 4], layer_lr=[1.0, 0.5, 0.25])
    assert c.width == (3, 4) and c.layer_lr == (1.0, 0.5, 0.25) and c.widths == (3, 4)
    assert hash(c) == hash(Config(depth=2, width=(3, 4), layer_lr=(1.0, 0.5, 0.25)))
    assert Config(depth=3, width=7).widths == (7, 7, 7) and Config(depth=3).n_weight_layers == 4


# ----------------------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize("typo,meant", [("lrr", "lr"), ("activaton", "activation"), ("momentm", "momentum"),
                                        ("batchsize", "batch_size")])
def test_unknown_key_suggests_the_close_name(typo, meant):
    for attempt in (lambda: Config().replace(**{typo: 1}),
                    lambda: Config.from_dict({typo: 1}),
                    lambda: Config().with_overrides([f"{typo}=1"])):
        with pytest.raises(ConfigError) as info:
            attempt()
        assert info.value.key == typo
        assert f"did you mean '{meant}'?" in str(info.value)


def test_unknown_key_far_from_anything_lists_the_keys():
    with pytest.raises(ConfigError) as info:
        Config.from_toml("zzzzzz = 1\n")
    assert "did you mean" not in str(info.value) and "depth" in str(info.value)


# ----------------------------------------------------------------------------------- TOML
ROUND_TRIP = [
    Config(),
    Config(depth=3, width=(4, 8, 16), layer_lr=(0.0, 1.0, 2.5, 1e-3), activation="prelu", norm="batch",
           center_inputs=True, loss="softmax_ce", optimizer="adam", lr=3e-4, eps=1e-7, clip_norm=1.5,
           dataset="digits", dtype="float64", backend="numpy", seed=2**32 - 1, bias_init=-0.1,
           init_sigma=1e-3, test_fraction=0.0, batch_size=0),
    Config(depth=1, width=1, lr=0.1 + 0.2, noise=1 / 3, momentum=0.123456789012345678),
]


@pytest.mark.parametrize("config", ROUND_TRIP)
def test_toml_round_trip_is_identical(config, tmp_path):
    path = tmp_path / "run.toml"
    config.save(path)
    loaded = Config.load(path)
    assert loaded == config
    assert loaded.to_dict() == config.to_dict()
    assert type(loaded.lr) is float and type(loaded.depth) is int
    assert Config.from_toml(loaded.to_toml()) == config
    assert path.read_text(encoding="utf-8") == loaded.to_toml()


def test_toml_integers_for_float_fields_are_accepted():
    c = Config.from_toml("lr = 1\nlayer_lr = [0, 1, 2, 3, 4]\nbias_init = -2\n")
    assert c.lr == 1.0 and type(c.lr) is float
    assert c.layer_lr == (0.0, 1.0, 2.0, 3.0, 4.0) and all(type(v) is float for v in c.layer_lr)
    assert c.bias_init == -2.0


def test_preset_style_file_with_config_table(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[preset]\ntitle = "x"\n[config]\ndepth = 2\nactivation = "relu"\n', encoding="utf-8")
    assert Config.load(path) == Config(depth=2, activation="relu")


@pytest.mark.parametrize("text", ["depth = = 3\n", "depth = 3\ndepth = 4\n", "[config\n", "lr = 0.1.2\n",
                                  'activation = "relu\n'])
def test_malformed_toml_is_a_config_error(text, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Config.load(path)
    assert info.value.key == "file"
    assert "TOML" in str(info.value)


def test_bad_value_in_toml_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('lr = -1.0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'lr'"):
        Config.load(path)


def test_missing_or_binary_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        Config.load(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00lr = 1")
    with pytest.raises(ConfigError) as info:
        Config.load(binary)
    assert "UTF-8" in str(info.value)


# ----------------------------------------------------------------------------------- --set
def test_with_overrides_parses_every_kind():
    c = Config().with_overrides([
        "depth=3", "width=4,8,16", "lr=0.05", "eps=1e-6", "center_inputs=true", "layer_lr=0,1,1,0.5",
        "activation=relu", "seed=7", "clip_norm = 2", "dtype=float64"])
    assert c == Config(depth=3, width=(4, 8, 16), lr=0.05, eps=1e-6, center_inputs=True,
                       layer_lr=(0.0, 1.0, 1.0, 0.5), activation="relu", seed=7, clip_norm=2.0,
                       dtype="float64")
    assert type(c.clip_norm) is float and type(c.seed) is int


@pytest.mark.parametrize("raw,expected", [("[4, 8, 16]", (4, 8, 16)), ("(4,8,16)", (4, 8, 16)), ("12", 12),
                                          ("4,8,16,", (4, 8, 16))])
def test_width_lists(raw, expected):
    assert parse_value("width", raw) == expected


@pytest.mark.parametrize("raw,expected", [("true", True), ("False", False), ("1", True), ("off", False),
                                          ("yes", True)])
def test_booleans(raw, expected):
    assert parse_value("center_inputs", raw) is expected


@pytest.mark.parametrize("assignment,key", [("lr=fast", "lr"), ("depth=3.5", "depth"), ("width=4,x", "width"),
                                            ("center_inputs=maybe", "center_inputs"), ("layer_lr=1,a", "layer_lr"),
                                            ("depth", "--set"), ("=3", "--set")])
def test_bad_overrides_name_the_key_and_value(assignment, key):
    with pytest.raises(ConfigError) as info:
        Config().with_overrides([assignment])
    assert info.value.key == key
    assert repr(assignment.partition("=")[2] if key != "--set" else assignment) in str(info.value)


def test_override_values_are_validated():
    with pytest.raises(ConfigError, match="'lr'"):
        Config().with_overrides(["lr=1000"])
    with pytest.raises(ConfigError, match="'layer_lr'"):
        Config().with_overrides(["layer_lr=1,1"])  # depth 4 needs 5


# ----------------------------------------------------------------------------------- atomic save
def test_save_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run.toml"
    Config(depth=2).save(path)
    Config(depth=3).save(path)
    assert Config.load(path).depth == 3
    assert os.listdir(tmp_path) == ["run.toml"]


def test_save_is_atomic_when_replace_fails(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    Config(depth=2).save(path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        assert os.path.dirname(os.fspath(src)) == os.fspath(tmp_path)  # a temp file beside the target
        assert Path(src).read_text(encoding="utf-8") == Config(depth=7).to_toml()  # fully written first
        raise OSError("disk full")

    monkeypatch.setattr(config_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        Config(depth=7).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.toml"]


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    Config(depth=2).save(path)
    before = path.read_bytes()

    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(config_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        Config(depth=7).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.toml"]


# ----------------------------------------------------------------------------------- random configs
@st.composite
def configs(draw):
    from engine.activations import ACTIVATIONS
    from engine.datasets import DATASETS
    from engine.initializers import INITIALIZERS
    from engine.losses import LOSSES
    from engine.optimizers import OPTIMIZERS

    depth = draw(st.integers(1, 6))
    unit = st.floats(0, 1, exclude_max=True, allow_subnormal=False)
    return Config(
        depth=depth,
        width=draw(st.one_of(st.integers(1, 1024), st.tuples(*[st.integers(1, 1024)] * depth))),
        activation=draw(st.sampled_from(sorted(ACTIVATIONS))), init=draw(st.sampled_from(sorted(INITIALIZERS))),
        loss=draw(st.sampled_from(sorted(LOSSES))), optimizer=draw(st.sampled_from(sorted(OPTIMIZERS))),
        dataset=draw(st.sampled_from(sorted(DATASETS))), norm=draw(st.sampled_from(config_module.NORMS)),
        lr=draw(st.floats(1e-9, 100)), momentum=draw(unit), leaky_slope=draw(unit),
        layer_lr=draw(st.one_of(st.just(()), st.tuples(*[st.floats(0, 1e6)] * (depth + 1)))),
        bias_init=draw(st.floats(-100, 100)), center_inputs=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)), batch_size=draw(st.integers(0, 1_000_000)),
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(config=configs())
def test_random_configs_round_trip_through_toml_and_set(config):
    assert Config.from_toml(config.to_toml()) == config
    # and through --set strings, as the CLI and "export as command" use them
    assignments = []
    for key, value in config.to_dict().items():
        if isinstance(value, list):
            value = ",".join(repr(v) for v in value)
        assignments.append(f"{key}={value}")
    parsed = Config().with_overrides(assignments)
    # "width=8" and a one-entry list "width=8," both parse to 8: the same network as width=(8,)
    assert parsed.widths == config.widths
    assert parsed.replace(width=config.width) == config
