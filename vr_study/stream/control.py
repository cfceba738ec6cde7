"""Control messages for the pose server: JSON over a REQ/REP socket (never pickle).

Requests are JSON objects with a ``cmd`` field; replies are JSON objects with ``ok`` and,
on failure, ``error``:

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
from typing import Any

import zmq

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
        s.connect(self._endpoint)
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


def parse_request(raw: bytes) -> dict[str, Any]:
    """Decode a control request; raise ValueError with a one-line reason if it is bad."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise ValueError("request too large")
    try:
        req = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"request is not JSON ({e})") from None
    if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
        raise ValueError("request must be a JSON object with a string 'cmd'")
    return req
