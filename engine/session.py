"""Sessions: one versioned file holding a whole lab session — config, weights, optimiser state,
random streams, the recorded history and the view state — so training continues exactly where it
was saved (or autosaved before a crash).

The file is a NumPy ``.npz`` (a zip: every member carries a CRC, so truncation and corruption are
detected) with a JSON ``meta`` member: ``format = "gradflow-session"``, ``version``, the config,
the simulation state (engine.state) and the view state (any JSON the GUI keeps). Written
atomically with the user's umask; reading checks everything before anything is changed.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .config import Config, ConfigError
from .fileio import UnreadableFile, atomic_write_bytes, read_bytes
from .state import StateError

SESSION_FORMAT = "gradflow-session"
SESSION_VERSION = 1
SUFFIX = ".gfsession"
MAX_SESSION_BYTES = 8 * 1024 ** 3


class SessionError(ValueError):
    """A session file cannot be used; the message names it and says why. Nothing was changed."""


@dataclass(frozen=True)
class Session:
    """One or more members (a comparison has several), each a Simulation state
    ``{"config", "meta", "arrays"}``, plus the history and view state the GUI keeps."""

    states: list
    history: dict = field(default_factory=dict)   # name -> NumPy array (e.g. steps, loss, grad norms)
    view: dict = field(default_factory=dict)      # JSON-able GUI state (tab, zoom, theme...)

    @property
    def config(self) -> Config:
        return self.states[0]["config"]

    def simulation(self, member: int = 0):
        """A new Simulation in exactly the saved state of ``member``."""
        from .simulation import Simulation
        state = self.states[member]
        sim = Simulation(state["config"])
        try:
            sim.set_state(state)
        except (StateError, KeyError, ValueError, TypeError) as exc:
            raise SessionError(f"the session's training state does not fit its config: {exc}") from None
        return sim


def session_bytes(states_or_sim, history: dict | None = None, view: dict | None = None) -> bytes:
    """The file's bytes for a Simulation, or for a list of ``Simulation.get_state()`` dicts."""
    states = [states_or_sim.get_state()] if hasattr(states_or_sim, "get_state") else list(states_or_sim)
    history = {k: np.asarray(v) for k, v in (history or {}).items()}
    members, docs = {}, []
    for i, state in enumerate(states):
        docs.append({"config": state["config"].to_dict(), "state": state["meta"],
                     "arrays": sorted(state["arrays"])})
        members.update({f"m{i}/{k}": np.asarray(v) for k, v in state["arrays"].items()})
    members.update({f"history/{k}": v for k, v in history.items()})
    doc = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "members": docs,
           "view": view or {}, "history": sorted(history)}
    json.dumps(doc)  # the view state must be JSON: fail here, before anything is written
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8), **members)
    return buf.getvalue()


def save_session(path: str | os.PathLike, states_or_sim, history: dict | None = None,
                 view: dict | None = None) -> None:
    """Write a complete session (a Simulation, or member states) atomically."""
    atomic_write_bytes(path, session_bytes(states_or_sim, history, view))


def load_session(path: str | os.PathLike) -> Session:
    """Read and check a session file; a SessionError for a truncated, damaged or foreign one."""
    try:
        data = read_bytes(path, MAX_SESSION_BYTES)
    except UnreadableFile as exc:
        raise SessionError(f"cannot open session {exc}") from None
    return parse_session(data, str(path))


def parse_session(data: bytes, source: str = "<bytes>") -> Session:
    def bad(why: str) -> SessionError:
        return SessionError(f"{source} is not a usable Gradient Flow Lab session: {why}")

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            members = {k: npz[k] for k in npz.files}  # reads every member: CRCs are checked
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise bad(f"truncated or damaged ({type(exc).__name__}: {exc})") from None
    if "meta" not in members:
        raise bad("no session header (another kind of .npz file?)")
    try:
        doc = json.loads(members.pop("meta").tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise bad("its header is damaged") from None
    if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
        raise bad("not a session file")
    if doc.get("version") != SESSION_VERSION:
        raise bad(f"session version {doc.get('version')!r}; this program reads version {SESSION_VERSION}")
    docs = doc.get("members")
    if not isinstance(docs, list) or not docs or not isinstance(doc.get("view", {}), dict):
        raise bad("its header is damaged")
    states = []
    for i, member in enumerate(docs):
        if not isinstance(member, dict) or not isinstance(member.get("state"), dict):
            raise bad(f"member {i} is damaged")
        try:
            config = Config.from_dict(member["config"])
        except ConfigError as exc:
            raise bad(f"its config is invalid ({exc})") from None
        except (KeyError, TypeError):
            raise bad("no config") from None
        prefix = f"m{i}/"
        arrays = {k[len(prefix):]: v for k, v in members.items() if k.startswith(prefix)}
        if sorted(arrays) != member.get("arrays"):
            raise bad("parts of it are missing")
        states.append({"config": config, "meta": member["state"], "arrays": arrays})
    history = {k[len("history/"):]: v for k, v in members.items() if k.startswith("history/")}
    if sorted(history) != doc.get("history"):
        raise bad("parts of its history are missing")
    return Session(states, history, doc.get("view", {}))
