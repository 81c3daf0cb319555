"""Backend selection: forced NumPy, the environment variable, CuPy refused with a reason where no GPU
works, auto's fallback, and (where a GPU works) the same training on CuPy and NumPy."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, Simulation
from engine import backend as B


@pytest.fixture(autouse=True)
def no_backend_env(monkeypatch):
    monkeypatch.delenv(B.ENV_VAR, raising=False)


def test_numpy_forced():
    backend = B.resolve("numpy")
    assert backend.name == "numpy" and backend.xp is np
    assert "NumPy requested" in backend.reason and "config" in backend.reason
    assert backend.device.startswith("CPU")
    sim = Simulation(Config(backend="numpy", n_samples=40, depth=1))
    assert sim.backend.name == "numpy" and sim.step(1).backend == "numpy"


@pytest.mark.parametrize("value", ["numpy", "NumPy", " numpy "])
def test_environment_variable_chooses_numpy(monkeypatch, value):
    monkeypatch.setenv(B.ENV_VAR, value)
    backend = B.resolve("auto")
    assert backend.name == "numpy"
    assert B.ENV_VAR in backend.reason


def test_environment_variable_does_not_override_an_explicit_choice(monkeypatch):
    monkeypatch.setenv(B.ENV_VAR, "cupy")
    assert B.resolve("numpy").name == "numpy"


def test_environment_variable_auto_means_auto(monkeypatch):
    monkeypatch.setenv(B.ENV_VAR, "auto")
    assert B.resolve("auto").name == ("cupy" if B.cupy_available() else "numpy")


def test_bad_environment_variable_is_refused(monkeypatch):
    monkeypatch.setenv(B.ENV_VAR, "tpu")
    with pytest.raises(B.BackendError) as info:
        B.resolve("auto")
    assert B.ENV_VAR in str(info.value) and "'tpu'" in str(info.value) and "numpy" in str(info.value)


def test_unknown_backend_name_is_refused():
    with pytest.raises(B.BackendError, match="unknown backend 'tpu'"):
        B.resolve("tpu")


@pytest.mark.skipif(B.cupy_available(), reason="a working GPU is present")
def test_explicit_cupy_without_a_gpu_says_why():
    with pytest.raises(B.BackendError) as info:
        B.resolve("cupy")
    message = str(info.value)
    assert "cupy" in message and "cannot run" in message
    assert message.endswith(B._try_cupy()[1])  # the reason (not installed / self-test failed) is part of it
    assert "CuPy" in B._try_cupy()[1]
    with pytest.raises(B.BackendError):
        Simulation(Config(backend="cupy"))


@pytest.mark.skipif(B.cupy_available(), reason="a working GPU is present")
def test_cupy_from_the_environment_without_a_gpu_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv(B.ENV_VAR, "cupy")
    with pytest.raises(B.BackendError, match=B.ENV_VAR):
        B.resolve("auto")


@pytest.mark.skipif(B.cupy_available(), reason="a working GPU is present")
def test_auto_falls_back_to_numpy_and_says_why():
    backend = B.resolve("auto")
    assert backend.name == "numpy"
    assert backend.reason.startswith("auto: using NumPy because")
    assert B._try_cupy()[1] in backend.reason
    sim = Simulation(Config(n_samples=40, depth=1))  # backend "auto" is the default
    assert sim.backend.name == "numpy" and "because" in sim.backend.reason


def test_to_numpy_passes_numpy_through():
    a = np.arange(3.0)
    assert B.to_numpy(a) is a
    assert isinstance(B.to_numpy([1, 2]), np.ndarray)


# ----------------------------------------------------------------------------------- CuPy
TRAINING = dict(depth=3, width=(8, 6, 4), activation="tanh", norm="batch", dataset="moons", n_samples=120,
                batch_size=32, optimizer="adam", lr=0.01, seed=3, dtype="float64")


def test_cupy_and_numpy_train_the_same_network():
    pytest.importorskip("cupy")
    if not B.cupy_available():
        pytest.skip(f"CuPy cannot run here: {B._try_cupy()[1]}")
    snaps = {}
    for name in ("numpy", "cupy"):
        sim = Simulation(Config(backend=name, **TRAINING))
        assert sim.backend.name == name
        sim.step(20)
        snaps[name] = sim.step(20)
        assert snaps[name].backend == name
        assert all(isinstance(w, np.ndarray) for w in snaps[name].weights)
    a, b = snaps["numpy"], snaps["cupy"]
    # same initial weights and batches; only floating-point summation order differs
    np.testing.assert_allclose(b.history_loss, a.history_loss, rtol=1e-8)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wb, wa, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.grad_norms, a.grad_norms, rtol=1e-6)
    np.testing.assert_allclose(b.dead_fraction, a.dead_fraction)


def test_cupy_gradients_and_loss_grid_match_numpy():
    pytest.importorskip("cupy")
    if not B.cupy_available():
        pytest.skip(f"CuPy cannot run here: {B._try_cupy()[1]}")
    sims = {name: Simulation(Config(backend=name, **TRAINING)) for name in ("numpy", "cupy")}
    x, y = sims["numpy"].data.x_train[:16], sims["numpy"].data.y_train[:16]
    ga, gb = (sims[n].gradients(x, y) for n in ("numpy", "cupy"))
    np.testing.assert_allclose(gb.flat, ga.flat, rtol=1e-8, atol=1e-12)
    theta = sims["numpy"].flat_parameters()
    thetas = theta + 0.1 * np.random.default_rng(0).standard_normal((5, theta.size))
    np.testing.assert_allclose(sims["cupy"].losses_at(thetas), sims["numpy"].losses_at(thetas), rtol=1e-8)
