"""Training on your own data: CSV/NPZ loading, the task decided by the target column, clear errors
that name the row and column (and load nothing), standardisation, and the SHA-256 a saved config
records."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine import Config, Simulation
from engine.config import ConfigError
from engine.datafile import MAX_FEATURES, DataFileChanged, DataFileError, file_digest, load_table


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def blobs_csv(tmp_path, n=60, header=True, sep=","):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.standard_normal((n, 2)) * 0.3 + np.where(y[:, None] == 1, 1.0, -1.0)
    lines = [sep.join(["x1", "x2", "label"])] if header else []
    lines += [sep.join([f"{a:.6f}", f"{b:.6f}", str(c)]) for (a, b), c in zip(x, y)]
    return write(tmp_path, "\n".join(lines) + "\n"), x, y


@pytest.mark.parametrize("header,sep", [(True, ","), (False, ","), (True, ";"), (True, "\t")])
def test_csv_loads_whole_with_last_column_as_label(tmp_path, header, sep):
    path, x, y = blobs_csv(tmp_path, header=header, sep=sep)
    t = load_table(path)
    np.testing.assert_allclose(t.x, np.round(x, 6))
    np.testing.assert_array_equal(t.y, y)
    assert t.n_classes == 2 and t.class_values == (0, 1)
    assert t.feature_names == (("x1", "x2") if header else ("column 1", "column 2"))
    assert t.sha256 == file_digest(path) and len(t.sha256) == 64


def test_target_column_by_name_or_index_and_labels_remapped(tmp_path):
    path = write(tmp_path, "kind,a,b\n5,1,2\n7,3,4\n5,5,6\n9,7,8\n")
    for target in ("kind", 0, -3, "0"):
        t = load_table(path, target_column=target)
        np.testing.assert_array_equal(t.y, [0, 1, 0, 2])
        assert t.class_values == (5, 7, 9) and t.feature_names == ("a", "b")


def test_task_decided_by_the_column_or_explicit(tmp_path):
    path = write(tmp_path, "a,b\n1,0.5\n2,1.25\n3,2.0\n4,0.1\n")
    assert load_table(path).n_classes == 0                          # non-integer target: regression
    ints = write(tmp_path, "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)), "ints.csv")
    assert load_table(ints).n_classes == 3
    assert load_table(ints, task="regression").n_classes == 0
    many = write(tmp_path, "a,b\n" + "".join(f"{i},{i}\n" for i in range(30)), "many.csv")
    assert load_table(many).n_classes == 0                          # 30 distinct integers: a quantity
    assert load_table(many, task="classification").n_classes == 30


@pytest.mark.parametrize("text,message", [
    ("a,b,c\n1,2,0\n3,x7,1\n", "non-numeric cell 'x7' at row 3, column 2 ('b')"),
    ("a,b,c\n1,2,0\n3,,1\n", "missing value at row 3, column 2 ('b')"),
    ("a,b,c\n1,2,0\n3,NA,1\n", "missing value at row 3, column 2"),
    ("a,b,c\n1,2,0\n3,4\n", "row 3 has 2 cells, the header has 3"),
    ("a,b,c\n1,2,0\n3,4,0\n", "one class only"),
    ("a,b,c\n1,2,0\n", "1 data row(s): at least 2 needed"),
    ("a\n1\n2\n", "at least two columns"),
    ("", "empty"),
    ("a,b\n1,inf\n2,3\n", "infinite value at row 2, column 2"),
])
def test_bad_files_name_what_and_where(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as info:
        load_table(path, task="classification" if "class" in message else "auto")
    assert message in str(info.value) and str(path) in str(info.value)
    assert info.value.key == "data_file"


def test_too_many_columns_and_unknown_target(tmp_path):
    path = write(tmp_path, ",".join(["1"] * (MAX_FEATURES + 2)) + "\n" + ",".join(["0"] * (MAX_FEATURES + 2)) + "\n")
    with pytest.raises(DataFileError, match="columns: at most"):
        load_table(path)
    ok = write(tmp_path, "a,b\n1,0\n2,1\n", "ok.csv")
    with pytest.raises(DataFileError, match="no column named 'label'"):
        load_table(ok, target_column="label")
    with pytest.raises(DataFileError, match="outside the 2 columns"):
        load_table(ok, target_column=5)
    with pytest.raises(DataFileError, match="no such file"):
        load_table(tmp_path / "missing.csv")
    with pytest.raises(DataFileError, match="unknown file type"):
        load_table(write(tmp_path, "x", "data.xlsx"))


def test_too_large_for_memory(tmp_path, monkeypatch):
    import engine.datafile as datafile

    path, _, _ = blobs_csv(tmp_path)
    monkeypatch.setattr(datafile, "_available_memory", lambda: 1000)
    with pytest.raises(DataFileError, match="too large for memory"):
        load_table(path)


def test_npz_xy_and_table(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((20, 3)), np.arange(20) % 4
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    t = load_table(tmp_path / "xy.npz")
    np.testing.assert_array_equal(t.x, x)
    np.testing.assert_array_equal(t.y, y)
    np.savez(tmp_path / "table.npz", data=np.column_stack([y, x]), columns=np.array(["y", "a", "b", "c"]))
    t = load_table(tmp_path / "table.npz", target_column="y")
    np.testing.assert_array_equal(t.x, x)
    assert t.feature_names == ("a", "b", "c")
    bad = x.copy()
    bad[4, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=bad, y=y)
    with pytest.raises(DataFileError, match=r"missing value at row 5, column 2"):
        load_table(tmp_path / "nan.npz")
    np.savez(tmp_path / "three.npz", a=x, b=x, c=y)
    with pytest.raises(DataFileError, match="expected arrays 'x' and 'y'"):
        load_table(tmp_path / "three.npz")


def test_a_2d_file_trains_and_draws_its_boundary(tmp_path):
    path, _, _ = blobs_csv(tmp_path, n=80)
    sim = Simulation(Config(dataset="file", data_file=str(path), standardize=True, depth=2, width=8,
                            backend="numpy", lr=0.3, test_fraction=0.25))
    assert sim.data.is_2d and sim.n_outputs == 1 and len(sim.data.x_test) == 20
    np.testing.assert_allclose(sim.data.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(sim.data.x_train.std(axis=0), 1.0, rtol=1e-12)
    sim.step(200)
    snap = sim.snapshot(boundary_resolution=16)
    assert snap.accuracy > 0.95 and snap.boundary.shape == (16, 16)


def test_regression_file_refuses_a_classification_loss(tmp_path):
    path = write(tmp_path, "a,b\n" + "".join(f"{i / 10},{np.sin(i / 10):.5f}\n" for i in range(30)))
    with pytest.raises(ConfigError, match="mse"):
        Simulation(Config(dataset="file", data_file=str(path), loss="bce"))
    sim = Simulation(Config(dataset="file", data_file=str(path), loss="mse", backend="numpy"))
    assert sim.data.n_classes == 0


def test_dataset_file_needs_a_path():
    with pytest.raises(ConfigError, match="needs data_file"):
        Config(dataset="file")


def test_saved_config_records_the_digest_and_warns_when_the_file_changed(tmp_path):
    path, _, _ = blobs_csv(tmp_path)
    cfg = Config(dataset="file", data_file=str(path), backend="numpy")
    cfg.save(tmp_path / "config.toml")
    loaded = Config.load(tmp_path / "config.toml")
    assert loaded.data_sha256 == file_digest(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Simulation(loaded)                                   # unchanged: no warning
    path.write_text(path.read_text() + "0.5,0.5,1\n")
    with pytest.warns(DataFileChanged, match="has changed since the config was saved"):
        Simulation(loaded)
