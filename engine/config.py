"""The run configuration: one frozen dataclass, validated once, read from and written to TOML.

Every field has a default, so ``Config()`` is a working network. Choices that come from a registry
(activation, init, loss, ...) are checked against that registry, so adding an entry there is the
only step needed to make it selectable here, in the GUI and in the CLI.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
from dataclasses import dataclass, field, fields
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

from .fileio import UnreadableFile, atomic_write_bytes, atomic_write_text, read_text  # noqa: F401 (re-exported)

MAX_DEPTH = 50
MAX_WIDTH = 1024

NORMS = ("none", "batch", "layer")
ARCHS = ("mlp", "cnn")
POOLS = ("none", "max", "avg")
TASKS = ("auto", "classification", "regression")
MAX_CONV_LAYERS = 50
MAX_CHANNELS = 256
BACKENDS = ("auto", "numpy", "cupy")
DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A config value is invalid; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, message: str | None = None):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(message or f"invalid value for '{short(key)}': {short(repr(value))} (allowed: {allowed})")


def short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for a message (a 1 MB value is not echoed in full)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text):,} characters)"


def _choices(kind: str) -> tuple[str, ...]:
    # Imported lazily: the registries import nothing from here, so there is no cycle either way,
    # but keeping config importable on its own keeps `Config` cheap for the GUI's start-up.
    if kind == "activation":
        from .activations import ACTIVATIONS as reg
    elif kind == "init":
        from .initializers import INITIALIZERS as reg
    elif kind == "loss":
        from .losses import LOSSES as reg
    elif kind == "optimizer":
        from .optimizers import OPTIMIZERS as reg
    elif kind == "dataset":
        from .datasets import DATASETS as reg
    else:  # pragma: no cover
        raise KeyError(kind)
    return tuple(reg)


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Same config + seed + backend = same numbers."""

    # network
    depth: int = 4                        # hidden layers (1..50); weight layers = depth + 1
    width: int | tuple[int, ...] = 16     # one width for all hidden layers, or one per layer
    activation: str = "tanh"
    leaky_slope: float = 0.01             # leaky_relu's slope for z < 0
    prelu_init: float = 0.25              # prelu's initial (learned) slope
    elu_alpha: float = 1.0                # elu's negative saturation value is -alpha
    noise_std: float = 0.2                # noisy_relu's Gaussian noise while training
    init: str = "xavier_uniform"
    init_sigma: float = 0.01              # the naive normal initialiser's standard deviation
    init_gain: float = 1.0                # multiplies every initialiser's scale
    bias_init: float = 0.0
    norm: str = "none"                    # none | batch | layer (before each hidden activation)
    norm_momentum: float = 0.1            # batch norm running-statistics update rate
    center_inputs: bool = False           # subtract the training-set mean from the inputs
    residual: bool = False                # identity skips h <- h + F(h) around blocks of equal width
    residual_every: int = 2               # hidden (or conv) layers per residual block
    # convolutional nets (arch = "cnn"): conv layers, then `depth` dense hidden layers of `width`
    arch: str = "mlp"                     # mlp | cnn
    channels: tuple[int, ...] = (8, 16)   # output channels per conv layer, input side first
    kernel_size: int = 3
    stride: int = 1
    padding: int = 1
    pool: str = "none"                    # none | max | avg: 2x2 pooling after every pool_every-th conv layer
    pool_every: int = 1
    # training
    loss: str = "bce"
    optimizer: str = "sgd"
    lr: float = 0.1
    layer_lr: tuple[float, ...] = ()      # per weight layer multipliers (depth + 1), () = all 1
    momentum: float = 0.9                 # momentum / nesterov coefficient, adam's beta1
    beta2: float = 0.999                  # adam's beta2, rmsprop's decay
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float = 0.0                # clip the global gradient norm; 0 = off
    batch_size: int = 64                  # 0 = full batch
    # data
    dataset: str = "spiral"
    n_samples: int = 400
    noise: float = 0.1
    test_fraction: float = 0.2
    data_file: str = ""                   # dataset = "file": a .csv or .npz of numeric columns
    target_column: int | str = -1         # the label/target column: index (negative from the end) or name
    task: str = "auto"                    # auto (decided by the column) | classification | regression
    standardize: bool = False             # scale every feature column to mean 0, std 1 (training rows)
    data_sha256: str = ""                 # the data file's SHA-256 when the config was saved
    # run
    seed: int = 0
    backend: str = "auto"
    dtype: str = "float32"
    steps: int = 1000                     # default length of a headless run
    every: int = 10                       # headless recording interval (steps)

    def __post_init__(self) -> None:
        # Normalise lists from TOML/CLI into tuples so the dataclass stays hashable and frozen.
        if isinstance(self.width, list):
            object.__setattr__(self, "width", tuple(self.width))
        if isinstance(self.layer_lr, list):
            object.__setattr__(self, "layer_lr", tuple(self.layer_lr))
        if isinstance(self.channels, list):
            object.__setattr__(self, "channels", tuple(self.channels))
        self._validate()

    # ----------------------------------------------------------------------------- validation
    def _validate(self) -> None:
        def check(key, ok, allowed):
            if not ok:
                raise ConfigError(key, getattr(self, key), allowed)

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        check("depth", is_int(self.depth) and 1 <= self.depth <= MAX_DEPTH,
              f"an integer from 1 to {MAX_DEPTH}")
        w = self.width
        if isinstance(w, tuple):
            check("width", len(w) == self.depth and all(is_int(x) and 1 <= x <= MAX_WIDTH for x in w),
                  f"one integer 1..{MAX_WIDTH}, or a list of {self.depth} of them (one per hidden layer)")
        else:
            check("width", is_int(w) and 1 <= w <= MAX_WIDTH, f"an integer from 1 to {MAX_WIDTH}")
        for key in ("activation", "init", "loss", "optimizer", "dataset"):
            names = _choices(key)
            check(key, getattr(self, key) in names, " | ".join(names))
        check("norm", self.norm in NORMS, " | ".join(NORMS))
        check("backend", self.backend in BACKENDS, " | ".join(BACKENDS))
        check("dtype", self.dtype in DTYPES, " | ".join(DTYPES))
        for key in ("leaky_slope", "prelu_init"):
            check(key, is_num(getattr(self, key)) and 0 <= getattr(self, key) < 1, "a number in [0, 1)")
        check("elu_alpha", is_num(self.elu_alpha) and 0 < self.elu_alpha <= 10, "a number in (0, 10]")
        check("noise_std", is_num(self.noise_std) and 0 <= self.noise_std <= 10, "a number in [0, 10]")
        check("init_sigma", is_num(self.init_sigma) and 0 < self.init_sigma <= 100, "a number in (0, 100]")
        check("init_gain", is_num(self.init_gain) and 0 < self.init_gain <= 100, "a number in (0, 100]")
        check("bias_init", is_num(self.bias_init) and abs(self.bias_init) <= 100, "a number in [-100, 100]")
        check("norm_momentum", is_num(self.norm_momentum) and 0 < self.norm_momentum <= 1, "a number in (0, 1]")
        check("center_inputs", isinstance(self.center_inputs, bool), "true | false")
        check("lr", is_num(self.lr) and 0 < self.lr <= 100, "a number in (0, 100]")
        self._validate_architecture(check, is_int)
        n_layers = self.n_weight_layers
        check("layer_lr", isinstance(self.layer_lr, tuple) and len(self.layer_lr) in (0, n_layers)
              and all(is_num(x) and 0 <= x <= 1e6 for x in self.layer_lr),
              f"empty (all 1), or {n_layers} numbers >= 0, one per weight layer, input side first")
        check("momentum", is_num(self.momentum) and 0 <= self.momentum < 1, "a number in [0, 1)")
        check("beta2", is_num(self.beta2) and 0 <= self.beta2 < 1, "a number in [0, 1)")
        check("eps", is_num(self.eps) and 0 < self.eps <= 1, "a number in (0, 1]")
        check("weight_decay", is_num(self.weight_decay) and 0 <= self.weight_decay <= 1, "a number in [0, 1]")
        check("clip_norm", is_num(self.clip_norm) and self.clip_norm >= 0, "a number >= 0 (0 = no clipping)")
        check("batch_size", is_int(self.batch_size) and 0 <= self.batch_size <= 1_000_000,
              "an integer >= 0 (0 = full batch)")
        check("n_samples", is_int(self.n_samples) and 10 <= self.n_samples <= 1_000_000,
              "an integer from 10 to 1000000")
        check("noise", is_num(self.noise) and 0 <= self.noise <= 10, "a number in [0, 10]")
        check("test_fraction", is_num(self.test_fraction) and 0 <= self.test_fraction <= 0.9,
              "a number in [0, 0.9]")
        check("seed", is_int(self.seed) and 0 <= self.seed < 2**32, "an integer in [0, 2**32)")
        check("steps", is_int(self.steps) and 0 <= self.steps <= 100_000_000, "an integer >= 0")
        check("every", is_int(self.every) and self.every >= 1, "an integer >= 1")

    def _validate_architecture(self, check, is_int) -> None:
        """Residual blocks, the conv stack and data files (dataset-dependent checks: Simulation)."""
        from .layers.residual import residual_notes

        check("residual", isinstance(self.residual, bool), "true | false")
        check("residual_every", is_int(self.residual_every) and 1 <= self.residual_every <= MAX_DEPTH,
              f"an integer from 1 to {MAX_DEPTH}")
        check("arch", self.arch in ARCHS, " | ".join(ARCHS))
        check("channels", isinstance(self.channels, tuple) and 1 <= len(self.channels) <= MAX_CONV_LAYERS
              and all(is_int(c) and 1 <= c <= MAX_CHANNELS for c in self.channels),
              f"a list of 1..{MAX_CONV_LAYERS} integers from 1 to {MAX_CHANNELS} (one per conv layer)")
        check("kernel_size", is_int(self.kernel_size) and 1 <= self.kernel_size <= 15, "an integer from 1 to 15")
        check("stride", is_int(self.stride) and 1 <= self.stride <= 4, "an integer from 1 to 4")
        check("padding", is_int(self.padding) and 0 <= self.padding < self.kernel_size,
              f"an integer from 0 to kernel_size - 1 = {self.kernel_size - 1}")
        check("pool", self.pool in POOLS, " | ".join(POOLS))
        check("pool_every", is_int(self.pool_every) and 1 <= self.pool_every <= MAX_CONV_LAYERS,
              f"an integer from 1 to {MAX_CONV_LAYERS}")
        check("data_file", isinstance(self.data_file, str), "a path to a .csv or .npz file")
        if self.dataset == "file" and not self.data_file:
            raise ConfigError("data_file", self.data_file, "a path to a .csv or .npz file",
                              "dataset = 'file' needs data_file = 'path.csv' (or .npz)")
        check("target_column", (is_int(self.target_column) or isinstance(self.target_column, str)),
              "a column index (negative counts from the end) or a column name")
        check("task", self.task in TASKS, " | ".join(TASKS))
        check("standardize", isinstance(self.standardize, bool), "true | false")
        check("data_sha256", isinstance(self.data_sha256, str), "a hex SHA-256 digest or empty")
        if self.residual and not any(skip for _, _, skip in self.residual_blocks):
            notes = "; ".join(residual_notes(self)) or "no block fits"
            raise ConfigError("residual", True, "blocks whose layers share one width",
                              f"residual = true but no block gets a skip ({notes})")

    # ----------------------------------------------------------------------------- derived
    @property
    def conv_layers(self) -> int:
        """Convolutional layers (0 for an MLP)."""
        return len(self.channels) if self.arch == "cnn" else 0

    @property
    def residual_blocks(self) -> list[tuple[int, int, bool]]:
        """(first, stop, has_skip) per residual block over hidden layers (conv layers for a CNN)."""
        from .layers.residual import residual_blocks

        return residual_blocks(self) if self.residual else []

    @property
    def notes(self) -> list[str]:
        """What validation has to say without rejecting the config (e.g. blocks left without a skip)."""
        from .layers.residual import residual_notes

        return residual_notes(self) if self.residual else []

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden-layer widths, input side first."""
        return self.width if isinstance(self.width, tuple) else (self.width,) * self.depth

    @property
    def n_hidden_layers(self) -> int:
        """Layers with an activation: conv layers, then dense hidden layers."""
        return self.conv_layers + self.depth

    @property
    def n_weight_layers(self) -> int:
        return self.conv_layers + self.depth + 1

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated)."""
        unknown = [k for k in changes if k not in FIELD_NAMES]
        if unknown:
            raise unknown_key_error(unknown[0])
        return dataclasses.replace(self, **changes)

    def with_overrides(self, assignments: list[str]) -> "Config":
        """Apply ``key=value`` strings, as given to the CLI's ``--set``."""
        changes = {}
        for text in assignments:
            key, sep, raw = text.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError("--set", text, "key=value, e.g. lr=0.05")
            changes[key] = parse_value(key, raw.strip())
        return self.replace(**changes)

    # ----------------------------------------------------------------------------- TOML
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["width"] = list(self.width) if isinstance(self.width, tuple) else self.width
        d["layer_lr"] = list(self.layer_lr)
        d["channels"] = list(self.channels)
        if self.dataset == "file" and self.data_file and not self.data_sha256:
            from .fileio import file_digest   # a saved config records which file it trained on

            d["data_sha256"] = file_digest(self.data_file)
        return d

    def to_toml(self) -> str:
        # The end line lets `load` tell a file we wrote that was cut short (a cut can still be
        # valid TOML: `leaky_slope = 0.01` -> `leaky_slope = 0.0`) from a short hand-written one.
        return TOML_HEADER + tomli_w.dumps(self.to_dict()) + TOML_END

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_toml())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        data = _config_table(data)  # preset files keep the config in a [config] table
        for key in data:
            if key not in FIELD_NAMES:
                raise unknown_key_error(key)
        for key, value in list(data.items()):
            data[key] = _coerce(key, value)
        return cls(**data)

    @classmethod
    def from_toml(cls, text: str, source: str = "<text>") -> "Config":
        return cls.from_dict(parse_toml(text, source))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Config":
        """Read a config (or preset) TOML file: a regular file under the size limit, UTF-8."""
        try:
            text = read_text(path)
        except UnreadableFile as exc:
            raise ConfigError("file", str(path), "a readable UTF-8 TOML file",
                              f"cannot use config file '{short(path)}': {exc.reason}") from None
        return cls.from_toml(text, str(path))


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Config))
_DEFAULTS = Config.__dataclass_fields__


def unknown_key_error(key: str) -> ConfigError:
    key = str(key)
    lower = {name.lower(): name for name in FIELD_NAMES}
    close = [lower[key.lower()]] if key.lower() in lower else \
        [lower[c] for c in difflib.get_close_matches(key.lower(), list(lower), n=1)]
    hint = f"did you mean '{close[0]}'? " if close else ""
    allowed = hint + "known keys: " + ", ".join(FIELD_NAMES)
    return ConfigError(key, None, allowed, f"unknown config key '{short(key)}' ({allowed})")


TOML_HEADER = "# Gradient Flow Lab config (complete; the last line is '# end')\n"
TOML_END = "# end\n"
# Tables a preset file may hold besides [config]; loading such a file as a config ignores them.
PRESET_TABLES = ("preset", "claim", "stage", "member", "neuron")


def parse_toml(text: str, source: str = "<text>") -> dict[str, Any]:
    """TOML text -> dict; a ConfigError names the source and the line for syntax errors, and
    refuses a file we wrote (it starts with TOML_HEADER) whose end line is missing (cut short)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("file", source, "valid TOML", f"{short(source)}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError("file", source, "valid TOML",
                          f"{short(source)}: values nested too deeply to read") from None
    if text.startswith(TOML_HEADER) and not text.rstrip().endswith(TOML_END.strip()):
        raise ConfigError("file", source, "a complete file",
                          f"{short(source)}: the file is cut short (its last line '# end' is missing); "
                          "nothing was run with it")
    return data


def _config_table(data: Any) -> dict[str, Any]:
    """The Config fields of a parsed file: its [config] table, or its top level without one."""
    if not isinstance(data, dict):
        raise ConfigError("config", data, "a table of config keys")
    if "config" not in data:
        data = dict(data)
        data.pop("preset", None)
        return data
    table = data["config"]
    if not isinstance(table, dict):
        raise ConfigError("config", table, "a [config] table of key = value lines (not a value or [[config]])")
    stray = [k for k in data if k not in ("config", *PRESET_TABLES)]
    if stray:
        raise ConfigError(stray[0], data[stray[0]], "inside [config]",
                          f"top-level key '{short(stray[0])}' beside a [config] table would be ignored: "
                          "move it into [config]")
    return dict(table)


def _coerce(key: str, value: Any) -> Any:
    """Make TOML/CLI values fit the field's type where that is lossless (1 -> 1.0, [..] -> tuple)."""
    default = _DEFAULTS[key].default if _DEFAULTS[key].default is not dataclasses.MISSING else None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if key == "target_column":
        return value
    if key == "layer_lr" and isinstance(value, (list, tuple)):
        return tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value)
    if isinstance(value, list):
        return tuple(value)
    return value


def parse_value(key: str, raw: str) -> Any:
    """Parse one CLI value for ``key``: numbers, booleans, comma lists for width/layer_lr."""
    if key not in FIELD_NAMES:
        raise unknown_key_error(key)
    default = _DEFAULTS[key].default
    try:
        if key == "target_column":
            return int(raw) if raw.lstrip("-").isdigit() else raw
        if key in ("width", "layer_lr", "channels"):
            parts = [p for p in raw.replace(" ", "").strip("[]()").split(",") if p]
            if key == "channels":
                return tuple(int(p) for p in parts)
            if key == "width":
                vals = tuple(int(p) for p in parts)
                return vals[0] if len(vals) == 1 else vals
            return tuple(float(p) for p in parts)
        if isinstance(default, bool):
            low = raw.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        kind = type(default).__name__ if key not in ("width", "layer_lr", "channels") else "comma-separated numbers"
        raise ConfigError(key, raw, f"a value of type {kind}") from None
    return raw


