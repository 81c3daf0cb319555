"""Gradient Flow Lab's engine: a backprop simulator on NumPy or CuPy. Never imports Qt."""
from .config import Config, ConfigError
from .snapshot import Snapshot

__all__ = ["Config", "ConfigError", "Snapshot", "Simulation"]


def __getattr__(name):
    # Simulation pulls in the whole engine; importing Config alone stays cheap.
    if name == "Simulation":
        from .simulation import Simulation
        return Simulation
    raise AttributeError(name)
