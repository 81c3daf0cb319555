"""Presets: TOML files under assets/presets/, each a lecture claim with the config that shows it.

A preset file has a ``[preset]`` table (title, caption) and a ``[config]`` table of Config fields,
one or more ``[[claim]]`` tables (engine.claims), optionally ``[[stage]]`` tables (caption, set =
{config changes to [config]}, ``[[stage.claim]]``) or ``[[member]]`` tables (label, set) for a
comparison; other tables (e.g. ``[neuron]`` for the zig-zag demo) are kept in ``extra``.
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
class Stage:
    """One step of a staged preset: its caption, config changes to the preset's [config], claims."""
    title: str
    caption: str
    changes: tuple = ()
    claims: tuple = ()


@dataclass(frozen=True)
class Member:
    """One run of a comparison preset: a label and its config changes to the preset's [config]."""
    label: str
    changes: tuple = ()


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    caption: str
    config: Config
    claim: str = ""
    extra: dict = field(default_factory=dict)
    claims: tuple = ()      # engine.claims.Claim, the preset's own
    stages: tuple = ()      # Stage
    members: tuple = ()     # Member

    def stage_config(self, index: int) -> Config:
        return self.config.replace(**dict(self.stages[index].changes))

    def member_config(self, label: str) -> Config:
        member = next(m for m in self.members if m.label == label)
        return self.config.replace(**dict(member.changes))


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
    extra = {k: v for k, v in data.items() if k not in ("preset", "config", "claim", "stage", "member")}
    claims, stages, members = _claims_stages_members(name, data, config)
    text = " ".join(meta.get("claim", "").split()) or (claims[0].text if claims else "")
    return Preset(name, meta.get("title", name), " ".join(meta.get("caption", "").split()),
                  config, text, extra, claims, stages, members)


def _claims_stages_members(name: str, data: dict, config: Config):
    from .claims import _changes, parse_claims
    claims = parse_claims(data.get("claim"), f"{name}.toml: claim")
    stages = []
    for i, raw in enumerate(data.get("stage", [])):
        where = f"{name}.toml: stage[{i}]"
        changes = _changes(raw.get("set"), f"{where}.set")
        config.replace(**dict(changes))  # validate now: a bad stage is a load error
        stages.append(Stage(str(raw.get("title", f"Stage {i + 1}")), " ".join(str(raw.get("caption", "")).split()),
                            changes, parse_claims(raw.get("claim"), f"{where}.claim", stage=i)))
    members = []
    for i, raw in enumerate(data.get("member", [])):
        where = f"{name}.toml: member[{i}]"
        if not isinstance(raw.get("label"), str) or not raw["label"]:
            raise ConfigError(f"{where}.label", raw.get("label"), "a short label for this run")
        changes = _changes(raw.get("set"), f"{where}.set")
        config.replace(**dict(changes))
        members.append(Member(raw["label"], changes))
    return claims, tuple(stages), tuple(members)


def list_presets() -> list[Preset]:
    return [load_preset(name) for name in preset_names()]
