"""Checks more than one engine test file makes."""
import numpy as np


def assert_steps_follow_the_gradient(sim, steps: int = 3) -> None:
    """Plain SGD with lr 1 on the full batch: each training step moves the parameters by exactly
    the gradient that the finite-difference checks verified (``Simulation.gradients``)."""
    x, y = sim.data.x_train, sim.data.y_train
    for _ in range(steps):
        expected = sim.gradients(x, y).flat
        before = sim.flat_parameters()
        sim.step(1)
        np.testing.assert_allclose(before - sim.flat_parameters(), expected, rtol=1e-10, atol=1e-13)
