"""Your own data: a CSV or NPZ file of numeric columns, one of them the label or target.

``load_data_file`` reads, checks and splits the whole file or raises :class:`DataFileError`
naming the row and column at fault — nothing half-loaded. The task is decided by the target
column (a few distinct integer values -> classification) unless set explicitly. CSV: an optional
header row (any non-numeric cell in the first row makes it one), ``,`` ``;`` or tab separated.
NPZ: arrays ``x`` (n, d) and ``y`` (n,), or one 2-D array (``data``) whose columns include the
target; optional ``columns`` (names).
"""
from __future__ import annotations

import csv
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ConfigError
from .fileio import file_digest

MAX_FEATURES = 4096          # feature columns
MAX_ROWS = 1_000_000
MAX_CLASSES = 100
AUTO_MAX_CLASSES = 20        # "auto": an integer column with at most this many values is a label
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}


class DataFileError(ConfigError):
    """The data file cannot be used; the message says where and why."""

    def __init__(self, path, message: str):
        super().__init__("data_file", str(path), "a numeric CSV or NPZ file", f"{path}: {message}")


class DataFileChanged(UserWarning):
    """The data file's SHA-256 differs from the one the config recorded."""


@dataclass(frozen=True)
class TableData:
    x: np.ndarray            # (n, d) float64
    y: np.ndarray            # int labels (n,) or float targets (n, 1)
    n_classes: int           # 0 = regression
    feature_names: tuple[str, ...]
    target_name: str
    class_values: tuple      # the label value of each class index (classification)
    sha256: str


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        return 8 << 30


def _check_size(path: Path, estimate: int) -> None:
    budget = _available_memory() // 4
    if estimate > budget:
        raise DataFileError(path, f"too large for memory: about {estimate / 2**20:,.0f} MiB as numbers, "
                                  f"{budget / 2**20:,.0f} MiB allowed (a quarter of the free memory)")


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v


def _read_csv(path: Path) -> tuple[list[str] | None, np.ndarray]:
    size = path.stat().st_size
    _check_size(path, 4 * size)   # a cell is >= 2 bytes of text and 8 bytes as float64
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text ({exc})") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
    lines = [i + 1 for i, r in enumerate(rows) if any(c.strip() for c in r)]   # 1-based file lines
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataFileError(path, "the file is empty")
    header = None
    if any(_number(c.strip()) is None and c.strip().lower() not in MISSING for c in rows[0]):
        header = [c.strip() for c in rows[0]]
        rows, lines = rows[1:], lines[1:]
    n_cols = len(header) if header else len(rows[0])
    if n_cols - 1 > MAX_FEATURES:
        raise DataFileError(path, f"{n_cols} columns: at most {MAX_FEATURES + 1} allowed "
                                  f"({MAX_FEATURES} features and the target)")
    if len(rows) > MAX_ROWS:
        raise DataFileError(path, f"{len(rows):,} rows: at most {MAX_ROWS:,} allowed")
    names = header or [f"column {j + 1}" for j in range(n_cols)]
    data = np.empty((len(rows), n_cols))
    for i, (row, line) in enumerate(zip(rows, lines)):
        if len(row) != n_cols:
            raise DataFileError(path, f"row {line} has {len(row)} cells, the {'header' if header else 'first row'} "
                                      f"has {n_cols}")
        for j, cell in enumerate(row):
            c = cell.strip()
            v = _number(c)
            if c.lower() in MISSING or (v is not None and math.isnan(v)):
                raise DataFileError(path, f"missing value at row {line}, column {j + 1} ({names[j]!r}); "
                                          "fill or drop incomplete rows first")
            if v is None:
                raise DataFileError(path, f"non-numeric cell {c!r} at row {line}, column {j + 1} ({names[j]!r})")
            if not math.isfinite(v):
                raise DataFileError(path, f"infinite value at row {line}, column {j + 1} ({names[j]!r})")
            data[i, j] = v
    return header, data


def _read_npz(path: Path):
    _check_size(path, 2 * path.stat().st_size)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataFileError(path, f"not a readable .npz file ({exc})") from None
    names = [str(c) for c in arrays.pop("columns", np.array([]))]
    lower = {k.lower(): k for k in arrays}
    if "x" in lower and "y" in lower:
        x, y = arrays[lower["x"]], arrays[lower["y"]]
        x = x.reshape(len(x), -1) if x.ndim > 2 else x
        if x.ndim != 2 or y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] != 1) or len(x) != len(y):
            raise DataFileError(path, f"x must be (n, d) and y (n,), got {x.shape} and {y.shape}")
        table = np.concatenate([x, y.reshape(-1, 1)], axis=1) if x.dtype.kind in "biuf" and y.dtype.kind in "biuf" else None
        if table is None:
            raise DataFileError(path, f"x and y must be numeric, got {x.dtype} and {y.dtype}")
        return (names or None), table, True
    if len(arrays) != 1:
        raise DataFileError(path, f"expected arrays 'x' and 'y', or one 2-D table; found {sorted(arrays)}")
    table = next(iter(arrays.values()))
    if table.ndim != 2:
        raise DataFileError(path, f"the table must be 2-D (rows x columns), got shape {table.shape}")
    if table.dtype.kind not in "biuf":
        raise DataFileError(path, f"the table must be numeric, got {table.dtype}")
    return (names or None), table, False


def _check_table(path: Path, table: np.ndarray, names) -> np.ndarray:
    table = np.asarray(table, dtype=np.float64)
    if table.shape[1] - 1 > MAX_FEATURES:
        raise DataFileError(path, f"{table.shape[1]} columns: at most {MAX_FEATURES + 1} allowed")
    if table.shape[0] > MAX_ROWS:
        raise DataFileError(path, f"{table.shape[0]:,} rows: at most {MAX_ROWS:,} allowed")
    bad = ~np.isfinite(table)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        what = "missing value" if np.isnan(table[i, j]) else "infinite value"
        raise DataFileError(path, f"{what} at row {i + 1}, column {j + 1} ({names[j]!r})")
    return table


def _target_index(path, target, names: list[str]) -> int:
    n = len(names)
    if isinstance(target, str) and target.strip():
        if target in names:
            return names.index(target)
        if target.lstrip("-").isdigit():
            target = int(target)
        else:
            raise DataFileError(path, f"no column named {target!r} (columns: {', '.join(names)})")
    if target == "":
        target = -1
    if not -n <= int(target) < n:
        raise DataFileError(path, f"target_column {target} is outside the {n} columns")
    return int(target) % n


def load_table(path, target_column=-1, task: str = "auto") -> TableData:
    """Read a CSV or NPZ file into features and a label/target column (the whole file or an error)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        names, table, xy = _read_npz(path)
        if xy:
            target_column = -1
    elif suffix in (".csv", ".tsv", ".txt"):
        names, table = _read_csv(path)
    else:
        raise DataFileError(path, f"unknown file type {suffix!r} (use .csv or .npz)")
    names = list(names) if names and len(names) == table.shape[1] else [f"column {j + 1}" for j in range(table.shape[1])]
    table = _check_table(path, table, names)
    if table.shape[1] < 2:
        raise DataFileError(path, "needs at least two columns: features and a target")
    if table.shape[0] < 2:
        raise DataFileError(path, f"{table.shape[0]} data row(s): at least 2 needed")
    t = _target_index(path, target_column, names)
    target = table[:, t]
    x = np.delete(table, t, axis=1)
    feature_names = tuple(n for j, n in enumerate(names) if j != t)
    values = np.unique(target)
    integral = bool(np.all(target == np.round(target)))
    if task == "auto":
        task = "classification" if integral and len(values) <= AUTO_MAX_CLASSES else "regression"
    if task == "classification":
        if len(values) < 2:
            raise DataFileError(path, f"the target column {names[t]!r} has one class only ({values[0]:g}); "
                                      "a classifier needs at least two")
        if len(values) > MAX_CLASSES:
            raise DataFileError(path, f"the target column {names[t]!r} has {len(values)} distinct values: at most "
                                      f"{MAX_CLASSES} classes (or set task = 'regression')")
        y = np.searchsorted(values, target).astype(int)
        classes = tuple(int(v) if integral else float(v) for v in values)
        return TableData(x, y, len(values), feature_names, names[t], classes, file_digest(path))
    return TableData(x, target.reshape(-1, 1), 0, feature_names, names[t], (), file_digest(path))


def load_dataset(config):
    """The config's data file as a split :class:`engine.datasets.Dataset` (warns if it changed)."""
    from .datasets import Dataset

    table = load_table(config.data_file, config.target_column, config.task)
    if config.data_sha256 and table.sha256 and config.data_sha256 != table.sha256:
        warnings.warn(DataFileChanged(
            f"{config.data_file} has changed since the config was saved (SHA-256 {table.sha256[:12]}..., "
            f"recorded {config.data_sha256[:12]}...): results will differ"), stacklevel=3)
    rng = np.random.default_rng([config.seed, 1])
    order = rng.permutation(len(table.x))
    n_test = int(round(config.test_fraction * len(order)))
    n_test = min(n_test, len(order) - 1)
    test, train = order[:n_test], order[n_test:]
    x = table.x
    if config.standardize:
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    return Dataset("file", x[train], table.y[train], x[test], table.y[test], table.n_classes, None,
                   str(config.data_file))
