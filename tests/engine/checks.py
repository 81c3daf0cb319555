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


def gradients_without_skip_backward(sim, x, y):
    """The flat gradient when backward forgets the residual skips the forward pass used: the
    negative control of the residual gradient checks (a correct check must see mismatches)."""
    net = sim.network
    saved, forward = net.skips, net.forward

    def forward_then_forget(*args, **kwargs):
        out = forward(*args, **kwargs)
        net.skips = {}            # backward sees no skips; the forward had them
        return out

    net.forward = forward_then_forget
    try:
        return sim.gradients(x, y).flat
    finally:
        del net.forward
        net.skips = saved
