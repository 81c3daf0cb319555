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
from .state import StateError, get_state, set_state

SESSION_FORMAT = "gradflow-session"
SESSION_VERSION = 1
SUFFIX = ".gfsession"
MAX_SESSION_BYTES = 8 * 1024 ** 3


class SessionError(ValueError):
    """A session file cannot be used; the message names it and says why. Nothing was changed."""


@dataclass(frozen=True)
class Session:
    config: Config
    state_meta: dict
    state_arrays: dict
    history: dict = field(default_factory=dict)   # name -> NumPy array (e.g. steps, loss, grad norms)
    view: dict = field(default_factory=dict)      # JSON-able GUI state (tab, zoom, theme...)

    def simulation(self):
        """A new Simulation in exactly the saved state."""
        from .simulation import Simulation
        sim = Simulation(self.config)
        try:
            set_state(sim, self.state_meta, self.state_arrays)
        except (StateError, KeyError, ValueError, TypeError) as exc:
            raise SessionError(f"the session's training state does not fit its config: {exc}") from None
        return sim


def session_bytes(sim, history: dict | None = None, view: dict | None = None) -> bytes:
    meta, arrays = get_state(sim)
    history = {k: np.asarray(v) for k, v in (history or {}).items()}
    doc = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "config": sim.config.to_dict(),
           "state": meta, "view": view or {}, "history": sorted(history), "state_arrays": sorted(arrays)}
    members = {f"state/{k}": v for k, v in arrays.items()}
    members.update({f"history/{k}": v for k, v in history.items()})
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8), **members)
    return buf.getvalue()


def save_session(path: str | os.PathLike, sim, history: dict | None = None, view: dict | None = None) -> None:
    """Write ``sim``'s complete state (and the GUI's history and view state) atomically."""
    atomic_write_bytes(path, session_bytes(sim, history, view))


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
    try:
        config = Config.from_dict(doc["config"])
    except ConfigError as exc:
        raise bad(f"its config is invalid ({exc})") from None
    except (KeyError, TypeError):
        raise bad("no config") from None
    state = {k[len("state/"):]: v for k, v in members.items() if k.startswith("state/")}
    history = {k[len("history/"):]: v for k, v in members.items() if k.startswith("history/")}
    if sorted(state) != doc.get("state_arrays") or sorted(history) != doc.get("history"):
        raise bad("parts of it are missing")
    if not isinstance(doc.get("state"), dict) or not isinstance(doc.get("view", {}), dict):
        raise bad("its state is damaged")
    session = Session(config, doc["state"], state, history, doc.get("view", {}))
    session.simulation  # noqa: B018 - (the state is checked against a network when restored)
    return session
