"""Control messages for the pose server: JSON over a REQ/REP socket (never pickle).

Requests are JSON objects with a ``cmd`` field; replies are JSON objects with ``ok`` and,
on failure, ``error``. Every request is checked against :data:`SCHEMA` (field types, finite
numbers, bounded lengths: avatar ids at most 64 bytes, paths 4096 characters, marker text
2048) before the server acts on it; anything else gets ``{"ok": false, "error": ...}``:

- ``{"cmd": "load", "avatar": "agent", "clip": "ID or path"}``: load a clip for an avatar
- ``{"cmd": "play", "avatar": "agent", "at_s": T, "loop": false}``: start it at monotonic
  time T (seconds; now + lead when omitted); reply holds ``start_s``, ``duration_s``
- ``{"cmd": "stop", "avatar": "agent"}``: stop and hold the current pose
- ``{"cmd": "speak", "avatar": "agent", "audio": "speech.wav", "emotion": "happy", "seed": 0}``:
  live motion from the server's live generator as the speech "arrives"; reply holds
  ``audio_start_s`` (monotonic s at which to start playing the speech) and ``latency_s``
- ``{"cmd": "marker", "text": "..."}``: note an event; reply holds its monotonic ``time_s``
- ``{"cmd": "status"}``: avatars, what each plays, frames sent
- ``{"cmd": "shutdown"}``
"""
from __future__ import annotations

import json
import math
from typing import Any

import zmq

from vr_study.stream.endpoint import connect
from vr_study.stream.security import CurveKeys, make_curve_client

MAX_REQUEST_BYTES = 64 * 1024


class ControlError(RuntimeError):
    """The pose server refused a command, or did not answer in time."""


class StreamControl:
    """Client of the pose server's control socket."""

    def __init__(self, endpoint: str, timeout_s: float = 2.0, server_public_key: bytes | None = None,
                 context: zmq.Context | None = None, client_keys: CurveKeys | None = None):
        self._ctx = context or zmq.Context.instance()
        self._endpoint = endpoint
        self._timeout_ms = int(timeout_s * 1000)
        self._server_key = server_public_key
        self._client_keys = client_keys
        self._sock = self._connect()

    def _connect(self) -> zmq.Socket:
        s = self._ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, self._timeout_ms)
        s.setsockopt(zmq.SNDTIMEO, self._timeout_ms)
        if self._server_key is not None:
            make_curve_client(s, self._server_key, self._client_keys)
        connect(s, self._endpoint, "control address")
        return s

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one command and return the reply; raise :class:`ControlError` on refusal/timeout."""
        try:
            self._sock.send_string(json.dumps({"cmd": cmd, **fields}))
            reply = json.loads(self._sock.recv_string())
        except zmq.Again:
            # a REQ socket is stuck after a lost reply: start a fresh one
            self._sock.close(0)
            self._sock = self._connect()
            raise ControlError(f"pose server at {self._endpoint} did not answer '{cmd}' "
                               f"within {self._timeout_ms / 1000:g} s") from None
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "refused"))
        return reply

    def load(self, avatar: str, clip: str) -> dict[str, Any]:
        return self.request("load", avatar=avatar, clip=str(clip))

    def play(self, avatar: str, at_s: float | None = None, loop: bool = False) -> dict[str, Any]:
        return self.request("play", avatar=avatar, at_s=at_s, loop=loop)

    def speak(self, avatar: str, audio: str, emotion: str = "neutral", seed: int = 0) -> dict[str, Any]:
        """Live motion for ``audio`` from the server's live generator; see ``audio_start_s``."""
        return self.request("speak", avatar=avatar, audio=str(audio), emotion=emotion, seed=seed)

    def stop(self, avatar: str) -> dict[str, Any]:
        return self.request("stop", avatar=avatar)

    def marker(self, text: str) -> dict[str, Any]:
        return self.request("marker", text=text)

    def status(self) -> dict[str, Any]:
        return self.request("status")

    def shutdown(self) -> dict[str, Any]:
        return self.request("shutdown")

    def close(self) -> None:
        self._sock.close(0)

    def __enter__(self) -> "StreamControl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Longest avatar id (bytes of UTF-8): the stream's topic limit (protocol.MAX_TOPIC_BYTES).
MAX_AVATAR_BYTES = 64
MAX_PATH_CHARS = 4096
MAX_TEXT_CHARS = 2048
MAX_LABEL_CHARS = 64
#: ``play.at_s`` must lie within this many seconds of the server's clock (past, future):
#: far-past starts of a looping clip would make the server publish every missed loop.
AT_S_WINDOW = (60.0, 24 * 3600.0)

#: cmd -> {field: (kind, required)}; kinds are checked by :func:`_check_field`.
SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "load": {"avatar": ("avatar", True), "clip": ("path", True)},
    "play": {"avatar": ("avatar", True), "at_s": ("time_or_null", False), "loop": ("bool", False)},
    "stop": {"avatar": ("avatar", True)},
    "speak": {"avatar": ("avatar", True), "audio": ("path", True), "emotion": ("label", False),
              "seed": ("seed", False)},
    "marker": {"text": ("text", False)},
    "status": {},
    "shutdown": {},
}


def _check_field(cmd: str, name: str, kind: str, v: Any) -> None:
    def bad(what: str) -> ValueError:
        return ValueError(f"'{cmd}': field '{name}' {what}")

    if kind in ("avatar", "path", "text", "label"):
        if not isinstance(v, str):
            raise bad(f"must be a string, not {type(v).__name__}")
        limit = {"avatar": MAX_AVATAR_BYTES, "path": MAX_PATH_CHARS, "text": MAX_TEXT_CHARS,
                 "label": MAX_LABEL_CHARS}[kind]
        size = len(v.encode("utf-8", "surrogatepass")) if kind == "avatar" else len(v)
        if kind in ("avatar", "path", "label") and not v:
            raise bad("is empty")
        if size > limit:
            raise bad(f"is longer than {limit} {'bytes' if kind == 'avatar' else 'characters'}")
        if kind != "text" and any(ord(ch) < 32 or 0xD800 <= ord(ch) < 0xE000 for ch in v):
            raise bad("holds control characters")
    elif kind == "bool":
        if not isinstance(v, bool):
            raise bad(f"must be true or false, not {type(v).__name__}")
    elif kind == "seed":
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32:
            raise bad("must be an integer in [0, 2^32)")
    elif kind == "time_or_null":
        if v is None:
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise bad("must be a finite number of seconds (monotonic clock) or null")
    else:  # pragma: no cover - a schema typo
        raise AssertionError(kind)


def validate_request(req: Any) -> dict[str, Any]:
    """Check a decoded request against :data:`SCHEMA`; return it or raise a one-line ValueError.

    Every field has a type, a bounded length and (numbers) must be finite; unknown commands
    and unknown fields are refused. Time windows that depend on the server's clock
    (``play.at_s``) are checked by the server.
    """
    if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
        raise ValueError("request must be a JSON object with a string 'cmd'")
    cmd = req["cmd"]
    if cmd not in SCHEMA:
        shown = cmd if len(cmd) <= 32 and cmd.isprintable() else cmd[:32].encode("unicode_escape").decode() + "..."
        raise ValueError(f"unknown command '{shown}'; use one of {', '.join(SCHEMA)}")
    fields = SCHEMA[cmd]
    for name, value in req.items():
        if name == "cmd":
            continue
        if name not in fields:
            shown = name if len(name) <= 32 and name.isprintable() else name[:32].encode("unicode_escape").decode()
            raise ValueError(f"'{cmd}': unknown field '{shown}'; allowed: {', '.join(fields) or 'none'}")
        _check_field(cmd, name, fields[name][0], value)
    for name, (_, required) in fields.items():
        if required and name not in req:
            raise ValueError(f"'{cmd}' needs the field '{name}'")
    return req


def parse_request(raw: bytes) -> dict[str, Any]:
    """Decode and validate a control request; raise ValueError with a one-line reason if it is bad."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise ValueError("request too large")
    try:
        req = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"request is not JSON ({e})") from None
    except RecursionError:
        raise ValueError("request is nested too deeply") from None
    return validate_request(req)


def _no_constant(name: str) -> float:
    raise ValueError(f"request is not JSON ({name} is not a JSON number)")
