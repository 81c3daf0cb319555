"""Presets: TOML files under assets/presets/, each a lecture claim with the config that shows it.

A preset file has a ``[preset]`` table (title, caption) and a ``[config]`` table of Config fields,
one or more ``[[claim]]`` tables (engine.claims), optionally ``[[stage]]`` tables (caption, set =
{config changes to [config]}, ``[[stage.claim]]``) or ``[[member]]`` tables (label, set) for a
comparison; other tables (e.g. ``[neuron]`` for the zig-zag demo) are kept in ``extra``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .claims import Claim, parse_changes, parse_claims
from .config import Config, ConfigError, parse_toml, short
from .fileio import UnreadableFile, read_text

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
    meta: dict = field(default_factory=dict)   # the [preset] table as written (title, loss_threshold, requires...)

    def stage_config(self, index: int) -> Config:
        return self.config.replace(**dict(self.stages[index].changes))

    def member_config(self, label: str) -> Config:
        member = next(m for m in self.members if m.label == label)
        return self.config.replace(**dict(member.changes))


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
    extra = {k: v for k, v in data.items() if k not in ("preset", "config", "claim", "stage", "member")}
    claims, stages, members = _claims_stages_members(name, data, config)
    text = " ".join(meta.get("claim", "").split()) or (claims[0].text if claims else "")
    return Preset(name, meta.get("title", name), " ".join(meta.get("caption", "").split()),
                  config, text, extra, claims, stages, members, dict(meta))


def _claims_stages_members(name: str, data: dict, config: Config):
    claims = parse_claims(data.get("claim"), f"{name}.toml: claim")
    stages = []
    for i, raw in enumerate(data.get("stage", [])):
        where = f"{name}.toml: stage[{i}]"
        changes = parse_changes(raw.get("set"), f"{where}.set")
        config.replace(**dict(changes))  # validate now: a bad stage is a load error
        stages.append(Stage(str(raw.get("title", f"Stage {i + 1}")), " ".join(str(raw.get("caption", "")).split()),
                            changes, parse_claims(raw.get("claim"), f"{where}.claim", stage=i)))
    members = []
    for i, raw in enumerate(data.get("member", [])):
        where = f"{name}.toml: member[{i}]"
        if not isinstance(raw.get("label"), str) or not raw["label"]:
            raise ConfigError(f"{where}.label", raw.get("label"), "a short label for this run")
        changes = parse_changes(raw.get("set"), f"{where}.set")
        config.replace(**dict(changes))
        members.append(Member(raw["label"], changes))
    return claims, tuple(stages), tuple(members)


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


def preset_claims(preset) -> list[Claim]:
    """The preset's claims, then each stage's, in order."""
    claims = list(preset.claims)
    for stage in preset.stages:
        claims += list(stage.claims)
    return claims
