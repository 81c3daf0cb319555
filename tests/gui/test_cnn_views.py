"""CNN and residual views: channel columns and skip arcs on the graph, the Kernels panel, and
File > Open data — all fed from Snapshots (and Configs) only."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, Simulation
from gui.views.conv_panel import ConvPanel, mosaic
from gui.views.graph_geometry import layer_names
from gui.views.network_graph import NetworkGraphView

CNN = Config(arch="cnn", channels=(4, 4, 4), residual=True, depth=1, width=8, dataset="digits", loss="softmax_ce",
             activation="relu", init="he_normal", n_samples=80, backend="numpy", batch_size=16)


@pytest.fixture(scope="module")
def cnn_snapshot():
    return Simulation(CNN).step(3)


def test_layer_names_for_conv_columns():
    assert layer_names(6, ("conv", "conv", "conv", "dense", "dense")) == \
        ["input", "conv1", "conv2", "conv3", "h1", "output"]
    assert layer_names(4) == ["input", "h1", "h2", "output"]


def test_graph_draws_channels_and_skip_arcs(qtbot, cnn_snapshot):
    view = NetworkGraphView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.set_snapshot(cnn_snapshot)
    g = view.geometry_info()
    assert g.sizes == (1, 4, 4, 4, 8, 10)                      # one node per channel
    assert g.names[1:4] == ["conv1", "conv2", "conv3"]
    assert cnn_snapshot.skips == ((1, 3),)
    assert len(view.skip_arcs) == 1
    xs, ys = view.skip_arcs[0].getData()
    assert xs[0] == pytest.approx(1.0) and xs[-1] == pytest.approx(3.0)
    assert ys.max() > max(g.ys[c][0] for c in (1, 2, 3))         # the arc passes over the columns
    plain = Simulation(CNN.replace(residual=False)).step(1)
    view.set_snapshot(plain)
    assert view.skip_arcs == []


def test_residual_mlp_arcs(qtbot):
    view = NetworkGraphView()
    qtbot.addWidget(view)
    snap = Simulation(Config(depth=5, width=6, residual=True, backend="numpy", n_samples=40)).step(1)
    view.set_snapshot(snap)
    assert snap.skips == ((1, 3), (3, 5))
    assert len(view.skip_arcs) == 2


def test_mosaic():
    tiles = np.arange(12, dtype=float).reshape(3, 2, 2)
    img, mask = mosaic(tiles, 2)
    assert img.shape == (5, 5) and mask.sum() == 12
    np.testing.assert_array_equal(img[3:5, 0:2], tiles[2])
    assert not mask[2].any() and not mask[:, 2].any()


def test_kernel_panel_shows_the_selected_layer(qtbot, cnn_snapshot):
    panel = ConvPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_snapshot(Simulation(Config(backend="numpy", n_samples=40)).step(1))   # an MLP
    assert panel.message.isVisible() and not panel.kernels.isVisible()
    panel.set_snapshot(cnn_snapshot)
    assert not panel.message.isVisible()
    assert panel.layer_combo.count() == 3
    assert "conv1" in panel.kernel_title.text()
    panel.select_layer(1)
    assert "conv2" in panel.kernel_title.text() and "row = output channel (4)" in panel.kernel_title.text()
    image = panel.kernels.image.image
    assert image.shape[:2] == (4 * 4 - 1, 4 * 4 - 1)              # 4 x 4 tiles of 3 x 3 with 1-px gaps
    assert "feature maps" in panel.maps_title.text()
    panel.mode_combo.setCurrentIndex(1)
    assert "|dL/dW|" in panel.note.text()


def test_kernel_panel_marks_dead_channels(qtbot):
    sim = Simulation(CNN.replace(residual=False))
    weights, biases = sim.parameters()
    biases[0][2] = -100.0
    sim.set_parameters(weights, biases)
    panel = ConvPanel()
    qtbot.addWidget(panel)
    panel.set_snapshot(sim.snapshot())
    texts = [t.toPlainText() for t in panel.maps.texts]
    assert "2✕" in texts and "1 dead" in panel.maps_title.text()


def test_config_for_a_data_file(tmp_path):
    from engine.config import ConfigError
    from gui.data_open import config_for_data_file

    path = tmp_path / "points.csv"
    rows = ["x,y,label"] + [f"{i / 10},{(i % 7) / 10},{i % 3}" for i in range(30)]
    path.write_text("\n".join(rows) + "\n")
    config, table = config_for_data_file(Config(loss="bce"), path)
    assert config.dataset == "file" and config.data_file == str(path.resolve())
    assert config.loss == "softmax_ce" and config.standardize and table.n_classes == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\nx,3\n")
    with pytest.raises(ConfigError, match="non-numeric cell 'x' at row 3, column 1"):
        config_for_data_file(Config(), bad)


def test_window_open_data_trains_on_the_file_and_draws_its_boundary(qtbot, tmp_path):
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    path = tmp_path / "blobs.csv"
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = rng.standard_normal((60, 2)) * 0.3 + np.where(y[:, None] == 1, 1.0, -1.0)
    path.write_text("a,b,label\n" + "".join(f"{p:.5f},{q:.5f},{c}\n" for (p, q), c in zip(x, y)))
    window = MainWindow(settings=open_settings(), theme_name="dark")
    qtbot.addWidget(window)
    window.resize(1600, 900)
    window.show()
    window.finish_setup(config=Config(depth=2, width=8, n_samples=100))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,\n2,3\n")
    assert not window.open_data(bad)
    assert "missing value at row 2" in window.controls.error_label.text()
    assert window.config.dataset != "file"                      # nothing changed
    assert window.open_data(path)
    assert window.config.dataset == "file" and window.controls.config == window.config
    with qtbot.waitSignal(window.sigFrameShown, timeout=15_000,
                          check_params_cb=lambda s: s.boundary is not None and s.step >= 0):
        window.runner.step()
    assert window.training.boundary._data.is_2d


def test_a_wide_layer_ships_and_shows_the_first_32_channels(qtbot):
    snap = Simulation(Config(arch="cnn", channels=(40, 40), depth=1, width=8, dataset="digits", loss="softmax_ce",
                             n_samples=40, backend="numpy")).step(1)
    assert snap.kernels[1].shape == (32, 32, 3, 3) and snap.edge_grads[1].shape == (40, 40)
    panel = ConvPanel()
    qtbot.addWidget(panel)
    panel.set_snapshot(snap)
    panel.select_layer(1)
    assert "first 32 x 32 of 40 x 40 shown" in panel.kernel_title.text()
    assert "conv2: 40 → 40 channels" in panel.layer_combo.itemText(1)


def test_changed_data_file_message(tmp_path):
    from gui.data_open import changed_file_message

    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,0\n2,1\n")
    config = Config(dataset="file", data_file=str(path))
    config.save(tmp_path / "c.toml")
    saved = Config.load(tmp_path / "c.toml")
    assert saved.data_sha256 and changed_file_message(saved) == ""
    path.write_text("a,b\n1,0\n3,1\n4,0\n")   # another size too: the digest cache keys on size and mtime
    assert "has changed since this config was saved" in changed_file_message(saved)
    path.unlink()
    assert "cannot be read" in changed_file_message(saved)
