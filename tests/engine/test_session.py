"""Sessions: a saved session continues with exactly the numbers of an uninterrupted run; truncated,
corrupted and foreign files give a clear SessionError; a failed save leaves the old file."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, Simulation
from engine.session import SessionError, load_session, save_session

CONFIG = Config(backend="numpy", optimizer="adam", norm="batch", activation="noisy_relu", batch_size=16,
                depth=3, width=8)


def test_a_session_continues_exactly(tmp_path):
    a = Simulation(CONFIG)
    a.step(40)
    path = tmp_path / "s.gfsession"
    save_session(path, a, history={"loss": np.arange(5.0)}, view={"tab": "charts", "zoom": 2})
    s = load_session(path)
    assert s.view == {"tab": "charts", "zoom": 2} and np.array_equal(s.history["loss"], np.arange(5.0))
    b = s.simulation()
    sa, sb = a.step(60), b.step(60)
    assert np.array_equal(a.flat_parameters(), b.flat_parameters())
    assert sa.loss == sb.loss and sa.step == sb.step == 100
    assert np.array_equal(sa.grad_norms, sb.grad_norms)


def test_damaged_and_foreign_files_are_refused(tmp_path):
    sim = Simulation(CONFIG)
    sim.step(3)
    path = tmp_path / "s.gfsession"
    save_session(path, sim)
    data = path.read_bytes()
    bad = tmp_path / "bad"
    for cut in range(0, len(data), max(1, len(data) // 40)):  # truncated anywhere
        bad.write_bytes(data[:cut])
        with pytest.raises(SessionError, match="not a usable|cannot open"):
            load_session(bad)
    rng = np.random.default_rng(0)
    for _ in range(30):  # one flipped byte anywhere: the zip CRCs catch it
        flipped = bytearray(data)
        i = int(rng.integers(len(data)))
        flipped[i] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            load_session(bad)
        except SessionError:
            continue
        # a flip in zip padding/headers that no reader uses may load: then it must be the same session
        assert np.array_equal(load_session(bad).states[0]["arrays"]["theta"], load_session(path).states[0]["arrays"]["theta"])
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(SessionError, match="no session header"):
        load_session(tmp_path / "other.npz")
    (tmp_path / "t.toml").write_text("depth = 3\n")
    with pytest.raises(SessionError):
        load_session(tmp_path / "t.toml")
    with pytest.raises(SessionError):
        load_session(tmp_path / "missing")


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    sim = Simulation(CONFIG)
    path = tmp_path / "s.gfsession"
    save_session(path, sim)
    before = path.read_bytes()
    sim.step(5)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    import os
    monkeypatch.setattr(os, "fsync", full_disk)  # the disk fills while the new file is written
    with pytest.raises(OSError, match="No space"):
        save_session(path, sim)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.gfsession"]
