"""Presets: TOML files under assets/presets/, each a lecture claim with the config that shows it.

A preset file has a ``[preset]`` table (title, caption, optional claim) and a ``[config]`` table
of Config fields; other tables (e.g. ``[neuron]`` for the zig-zag demo) are kept in ``extra``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, ConfigError, parse_toml, short
from .fileio import UnreadableFile, read_text

PRESET_DIR = Path(__file__).resolve().parent.parent / "assets" / "presets"


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    caption: str
    config: Config
    claim: str = ""
    extra: dict = field(default_factory=dict)


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml") if _NAME.fullmatch(p.stem))


def _preset_path(name: str) -> Path:
    """The file of preset ``name``: a bare name from the presets folder, never a path."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name or name.endswith(".toml"):
        hint = " (presets load by name; use --config FILE for a file)" if isinstance(name, str) and (
            "/" in name or "\\" in name or name.endswith(".toml")) else ""
        raise ConfigError("preset", name, " | ".join(preset_names()) or "no presets installed",
                          f"invalid value for 'preset': {short(repr(name))}{hint} (allowed: "
                          f"{' | '.join(preset_names()) or 'no presets installed'})")
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        import difflib
        close = difflib.get_close_matches(name.lower(), preset_names(), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError("preset", name, hint + (" | ".join(preset_names()) or "no presets installed"))
    return path


def load_preset(name: str) -> Preset:
    """Load one preset by name; a ConfigError names the allowed presets or the bad value."""
    path = _preset_path(name)
    try:
        data = parse_toml(read_text(path), str(path))
    except UnreadableFile as exc:
        raise ConfigError("preset", name, "a readable preset file", f"preset '{name}': {exc}") from None
    if not isinstance(data.get("config", {}), dict) or not isinstance(data.get("preset", {}), dict):
        raise ConfigError("preset", name, "[preset] and [config] tables",
                          f"preset '{name}' ({path}): [preset] and [config] must be tables")
    meta = data.get("preset", {})
    for key in ("title", "caption", "claim"):
        if not isinstance(meta.get(key, ""), str):
            raise ConfigError("preset", name, "text", f"preset '{name}' ({path}): [preset] {key} must be text")
    try:
        config = Config.from_dict(data.get("config", {}))
    except ConfigError as exc:
        raise ConfigError(f"{name}.toml: {exc.key}", exc.value, exc.allowed) from None
    extra = {k: v for k, v in data.items() if k not in ("preset", "config")}
    return Preset(name, meta.get("title", name), " ".join(meta.get("caption", "").split()),
                  config, " ".join(meta.get("claim", "").split()), extra)


def list_presets(errors: list | None = None) -> list[Preset]:
    """Every preset that loads; a broken one is skipped (and reported in ``errors`` as
    ``(name, message)`` when a list is given) so one bad file does not hide the others."""
    presets = []
    for name in preset_names():
        try:
            presets.append(load_preset(name))
        except (ConfigError, ValueError, TypeError) as exc:
            if errors is not None:
                errors.append((name, str(exc)))
    return presets
