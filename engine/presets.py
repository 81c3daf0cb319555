"""Presets: TOML files under assets/presets/, each a lecture claim with the config that shows it.

A preset file has a ``[preset]`` table (title, caption, optional claim) and a ``[config]`` table
of Config fields; other tables (e.g. ``[neuron]`` for the zig-zag demo) are kept in ``extra``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .config import Config, ConfigError

PRESET_DIR = Path(__file__).resolve().parent.parent / "assets" / "presets"


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    caption: str
    config: Config
    claim: str = ""
    extra: dict = field(default_factory=dict)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> Preset:
    """Load one preset by name; a ConfigError names the allowed presets or the bad value."""
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError("preset", name, " | ".join(preset_names()) or "no presets installed")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("preset", name, f"a readable TOML file at {path} ({exc})") from None
    meta = data.get("preset", {})
    try:
        config = Config.from_dict(data.get("config", {}))
    except ConfigError as exc:
        raise ConfigError(f"{name}.toml: {exc.key}", exc.value, exc.allowed) from None
    extra = {k: v for k, v in data.items() if k not in ("preset", "config")}
    return Preset(name, meta.get("title", name), " ".join(meta.get("caption", "").split()),
                  config, " ".join(meta.get("claim", "").split()), extra)


def list_presets() -> list[Preset]:
    return [load_preset(name) for name in preset_names()]
