"""Pose-stream wire format: ZeroMQ multipart messages, never pickle.

A pose message has three frames::

    [topic]    avatar id, UTF-8 (SUB sockets filter on it)
    [header]   HEADER_STRUCT, little endian, HEADER_SIZE bytes
    [payload]  float32 little endian: full_pose (55*3 radians, axis-angle, BEAT2 joint
               order), transl (3, metres), expression (E coefficients)

An *audio cue* tells renderers when to start an avatar's speech: same topic, a header
with magic ``b"VRAC"`` (version, cue id, epoch, start time, audio offset) and a small JSON
payload naming the file (``audio``: the path on the pose server's machine; ``library``: the
path inside the stimulus library, for a renderer on another machine with a copy of it).
At monotonic time ``start_s`` the audio must be at ``offset_s`` seconds.

Header fields of a pose: magic ``b"VRPS"``, protocol version, layout id, number of expression
coefficients E, publisher epoch (random per publisher start, so that a restarted
publisher whose sequence numbers begin again is recognised), sequence number, presentation
time (seconds on the shared clock: CLOCK_MONOTONIC of the machine, ``time.monotonic()``),
frame rate (Hz).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"VRPS"
VERSION = 1
LAYOUT_SMPLX = 1  # full_pose (165) + transl (3) + expression (E)
HEADER_STRUCT = struct.Struct("<4sHHHxxIQdf")
HEADER_SIZE = HEADER_STRUCT.size
POSE_FLOATS = 55 * 3
MAX_EXPRESSION = 400
MAX_TOPIC_BYTES = 64


CUE_MAGIC = b"VRAC"
CUE_STRUCT = struct.Struct("<4sHxxIQdd")
MAX_CUE_JSON_BYTES = 4096


class MalformedMessage(ValueError):
    """A message that does not follow this protocol (counted and dropped by subscribers)."""


@dataclass(frozen=True)
class PoseHeader:
    version: int
    layout: int
    num_expression: int
    epoch: int
    seq: int
    time_s: float  # presentation time, seconds on the shared monotonic clock
    fps: float


@dataclass
class PoseSample:
    """One avatar pose at one presentation time.

    ``full_pose`` (55,3) axis-angle radians; ``transl`` (3,) metres; ``expression`` (E,);
    ``time_s`` presentation time on the shared clock; ``age_s`` how far the requested
    display time lies past the newest received pose (0 while interpolating).
    """

    full_pose: np.ndarray
    transl: np.ndarray
    expression: np.ndarray
    time_s: float
    seq: int = 0
    age_s: float = 0.0


def encode_pose(avatar: str, epoch: int, seq: int, time_s: float, fps: float, full_pose: np.ndarray,
                transl: np.ndarray, expression: np.ndarray) -> list[bytes]:
    """Frames of one pose message (see module docstring)."""
    topic = avatar.encode("utf-8")
    if not topic or len(topic) > MAX_TOPIC_BYTES:
        raise ValueError(f"avatar id must be 1..{MAX_TOPIC_BYTES} bytes of UTF-8, got {avatar!r}")
    expression = np.asarray(expression, dtype="<f4").ravel()
    header = HEADER_STRUCT.pack(MAGIC, VERSION, LAYOUT_SMPLX, expression.size, epoch & 0xFFFFFFFF,
                                seq, float(time_s), float(fps))
    payload = np.concatenate([np.asarray(full_pose, "<f4").ravel(), np.asarray(transl, "<f4").ravel(), expression])
    if payload.size != POSE_FLOATS + 3 + expression.size:
        raise ValueError(f"full_pose must have 165 values and transl 3, got {payload.size - expression.size - 3} + 3")
    return [topic, header, payload.tobytes()]


def decode_pose(frames: list[bytes]) -> tuple[str, PoseHeader, PoseSample]:
    """Parse a pose message; raise :class:`MalformedMessage` for anything off-protocol."""
    if len(frames) != 3:
        raise MalformedMessage(f"expected 3 frames, got {len(frames)}")
    topic, header, payload = frames
    try:
        avatar = bytes(topic).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("topic is not UTF-8") from None
    if len(header) != HEADER_SIZE:
        raise MalformedMessage(f"header has {len(header)} bytes, expected {HEADER_SIZE}")
    magic, version, layout, n_expr, epoch, seq, time_s, fps = HEADER_STRUCT.unpack(header)
    if magic != MAGIC:
        raise MalformedMessage("bad magic")
    if version != VERSION:
        raise MalformedMessage(f"unknown protocol version {version}")
    if layout != LAYOUT_SMPLX:
        raise MalformedMessage(f"unknown layout {layout}")
    if n_expr > MAX_EXPRESSION:
        raise MalformedMessage(f"{n_expr} expression coefficients is too many")
    expected = (POSE_FLOATS + 3 + n_expr) * 4
    if len(payload) != expected:
        raise MalformedMessage(f"payload has {len(payload)} bytes, expected {expected}")
    if not (np.isfinite(time_s) and np.isfinite(fps) and fps > 0):
        raise MalformedMessage("time or fps is not finite")
    data = np.frombuffer(payload, dtype="<f4")
    if not np.all(np.isfinite(data)):
        raise MalformedMessage("payload holds NaN or Inf")
    h = PoseHeader(version, layout, n_expr, epoch, seq, time_s, fps)
    sample = PoseSample(full_pose=data[:POSE_FLOATS].reshape(55, 3), transl=data[POSE_FLOATS:POSE_FLOATS + 3],
                        expression=data[POSE_FLOATS + 3:], time_s=time_s, seq=seq)
    return avatar, h, sample


@dataclass(frozen=True)
class AudioCue:
    """Start ``audio`` so that its position ``offset_s`` (s) plays at ``start_s`` (monotonic s)."""

    avatar: str
    epoch: int
    cue_id: int
    start_s: float
    offset_s: float
    audio: str
    library_path: str | None = None


def is_audio_cue(frames: list[bytes]) -> bool:
    return len(frames) == 3 and bytes(frames[1][:4]) == CUE_MAGIC


def encode_audio_cue(cue: AudioCue) -> list[bytes]:
    """Frames of one audio-cue message."""
    import json

    header = CUE_STRUCT.pack(CUE_MAGIC, VERSION, cue.epoch & 0xFFFFFFFF, cue.cue_id, float(cue.start_s),
                             float(cue.offset_s))
    payload = json.dumps({"audio": cue.audio, "library": cue.library_path}).encode("utf-8")
    return [cue.avatar.encode("utf-8"), header, payload]


def decode_audio_cue(frames: list[bytes]) -> AudioCue:
    """Parse an audio-cue message; raise :class:`MalformedMessage` for anything off-protocol."""
    import json

    topic, header, payload = frames
    if len(header) != CUE_STRUCT.size or len(payload) > MAX_CUE_JSON_BYTES:
        raise MalformedMessage("bad audio cue sizes")
    _magic, version, epoch, cue_id, start_s, offset_s = CUE_STRUCT.unpack(header)
    if version != VERSION:
        raise MalformedMessage(f"unknown protocol version {version}")
    if not (np.isfinite(start_s) and np.isfinite(offset_s)):
        raise MalformedMessage("cue time is not finite")
    try:
        avatar = bytes(topic).decode("utf-8")
        data = json.loads(bytes(payload).decode("utf-8"))
        audio, library = data["audio"], data.get("library")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise MalformedMessage("audio cue payload is not the expected JSON") from None
    if not isinstance(audio, str) or not (library is None or isinstance(library, str)):
        raise MalformedMessage("audio cue paths must be strings")
    return AudioCue(avatar, epoch, cue_id, start_s, offset_s, audio, library)
