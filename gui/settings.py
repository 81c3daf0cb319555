"""Where the app remembers its window layout, theme and last config (QSettings, INI format).

Tests and benchmarks point ``GRADIENT_FLOW_LAB_SETTINGS_DIR`` at a temporary folder so the user's
own settings are never read or written.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

ENV_DIR = "GRADIENT_FLOW_LAB_SETTINGS_DIR"
ORGANISATION = "GradientFlowLab"
APPLICATION = "gradient-flow-lab"


def open_settings() -> QSettings:
    folder = os.environ.get(ENV_DIR)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / f"{APPLICATION}.ini"), QSettings.IniFormat)
    return QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANISATION, APPLICATION)


def load_config(settings: QSettings):
    """The last config, or None when there is none or it no longer validates."""
    from engine.config import Config, ConfigError
    text = settings.value("run/config", "", type=str)
    if not text:
        return None
    try:
        return Config.from_toml(text)
    except ConfigError:
        return None


def save_config(settings: QSettings, config) -> None:
    settings.setValue("run/config", config.to_toml())
