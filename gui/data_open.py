"""File > Open Data: a config that trains on the chosen CSV/NPZ file.

The file is read once here (the engine's loader, on a file only — no simulation) so that a bad
file is refused with its message before anything changes, and the loss fits the task: MSE for a
regression target, softmax cross-entropy for more than two classes.
"""
from __future__ import annotations

from pathlib import Path

DATA_FILTER = "Data files (*.csv *.tsv *.txt *.npz);;CSV (*.csv);;NumPy archive (*.npz)"


def config_for_data_file(config, path):
    """``config`` changed to train on ``path`` (a ConfigError/DataFileError names what is wrong)."""
    from engine.datafile import load_table
    from engine.losses import LOSSES

    path = str(Path(path).resolve())
    target = config.target_column if config.dataset == "file" else -1
    task = config.task if config.dataset == "file" else "auto"
    table = load_table(path, target, task)
    loss = config.loss
    if table.n_classes == 0:
        loss = "mse"
    elif not LOSSES[loss].classification or (table.n_classes > 2 and loss == "bce"):
        loss = "softmax_ce" if table.n_classes > 2 else "bce"
    changes = dict(dataset="file", data_file=path, target_column=target, task=task, data_sha256="", loss=loss,
                   standardize=True if config.dataset != "file" else config.standardize)
    if config.arch == "cnn":
        changes["arch"] = "mlp"     # a table has no image shape
    return config.replace(**changes), table


def changed_file_message(config) -> str:
    """A warning when ``config`` recorded its data file's SHA-256 and the file now differs ("" if not)."""
    from engine.fileio import file_digest

    if config.dataset != "file" or not config.data_sha256:
        return ""
    now = file_digest(config.data_file)
    if not now:
        return f"the data file {config.data_file} cannot be read"
    if now != config.data_sha256:
        return (f"warning: {config.data_file} has changed since this config was saved "
                f"(SHA-256 {now[:12]}…, recorded {config.data_sha256[:12]}…): results will differ")
    return ""
