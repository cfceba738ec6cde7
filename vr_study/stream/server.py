"""The pose server: plays clips (or live frames) for several avatars on command.

One thread, one loop: it waits on the control socket until the next frame is due, then
publishes every frame whose presentation time lies within ``lead_s`` seconds, stamped
with that presentation time on the shared monotonic clock. Loaded avatars that are not
playing repeat their held pose at ``idle_hz`` so that a renderer started late still sees
them.

Nothing a client sends can stop the loop: requests are checked against the control
schema (:func:`vr_study.stream.control.validate_request`), larger than 64 KiB are dropped
by ZeroMQ before they are read, multipart or malformed ones get an error reply, and a
failure inside a command or while publishing is logged and answered, never raised.
With CurveZMQ keys and ``allowed_clients``, a ZAP authenticator (pyzmq's
``ThreadAuthenticator``) admits only those client public keys on both the control and
the pose socket.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import zmq

from vr_study.errors import InputError
from vr_study.motion import MotionClip
from vr_study.stream.control import AT_S_WINDOW, MAX_REQUEST_BYTES, parse_request, validate_request
from vr_study.stream.endpoint import bind
from vr_study.stream.publisher import PosePublisher
from vr_study.stream.security import CurveKeys, make_curve_server, start_authenticator

log = logging.getLogger(__name__)

ClipResolver = Callable[[str], MotionClip]


class LiveSource(Protocol):
    """A streaming generator: mono audio chunks in, the frames that are ready out.

    ``feed``/``flush`` return a MotionClip of new frames whose ``meta.audio_offset_s`` is
    the time (s from the audio start) of its first frame; frames lag the audio by
    ``latency_s``. (``generators.prosody.ProsodyStream`` is one.)
    """

    latency_s: float

    def feed(self, chunk: np.ndarray) -> MotionClip: ...

    def flush(self) -> MotionClip: ...


#: (emotion, seed) -> a fresh LiveSource; the CLI wires a generator in here.
LiveFactory = Callable[[str, int], LiveSource]


@dataclass
class _Track:
    clip: MotionClip
    clip_name: str
    start_s: float | None = None  # monotonic time of frame 0 while playing
    loop: bool = False
    next_frame: int = 0
    held: int = 0                  # frame index shown while not playing
    last_idle_s: float = 0.0
    frames_sent: int = 0
    poses: np.ndarray = field(default=None)  # (T,55,3) cached

    def __post_init__(self) -> None:
        self.poses = self.clip.full_pose()


@dataclass
class _LiveTrack:
    """Speech fed to a live generator as if it arrived in real time from ``arrival_s`` on.

    Frame at time t (s from the audio start) is presented at ``audio_start_s + t``, where
    ``audio_start_s = arrival_s + latency + lead``: the moment the renderer starts the speech.
    """

    source: LiveSource
    samples: np.ndarray
    sample_rate_hz: int
    arrival_s: float
    audio_start_s: float
    fed: int = 0
    flushed: bool = False
    last: tuple | None = None  # (full_pose, transl, expression, fps) of the newest frame
    last_idle_s: float = 0.0
    frames_sent: int = 0


class PoseServer:
    """Serve poses on ``pub_endpoint`` and take commands on ``control_endpoint``."""

    def __init__(self, pub_endpoint: str, control_endpoint: str, resolve_clip: ClipResolver,
                 keys: CurveKeys | None = None, lead_s: float = 0.05, idle_hz: float = 10.0,
                 context: zmq.Context | None = None, live_factory: LiveFactory | None = None,
                 live_sample_rate_hz: int = 16000, allowed_clients: list[bytes] | None = None):
        if allowed_clients is not None and keys is None:
            raise InputError(None, "allowed clients", "need CurveZMQ server keys", "give the server's secret key too")
        # the ZAP handler serves a whole context: an allow-listing server gets its own
        self._own_ctx = allowed_clients is not None and context is None
        self._ctx = zmq.Context() if self._own_ctx else (context or zmq.Context.instance())
        self._auth = None
        self.publisher = self._control = None
        try:
            if allowed_clients is not None:
                self._auth = start_authenticator(self._ctx, allowed_clients)
            self.publisher = PosePublisher(pub_endpoint, keys, self._ctx)
            self._control = self._ctx.socket(zmq.REP)
            self._control.setsockopt(zmq.LINGER, 0)
            self._control.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
            if keys is not None:
                make_curve_server(self._control, keys)
            self.control_endpoint = bind(self._control, control_endpoint, "control address")
        except BaseException:
            self.close()
            raise
        self._resolve = resolve_clip
        self.lead_s = lead_s
        self.idle_hz = idle_hz
        self.tracks: dict[str, _Track] = {}
        self.live: dict[str, _LiveTrack] = {}
        self._live_factory = live_factory
        self._live_rate = live_sample_rate_hz
        self.markers: list[tuple[float, str]] = []
        self._running = False

    # ------------------------------------------------------------------ commands
    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Carry out one control request (checked against the schema first); return the reply."""
        req = validate_request(req)
        cmd = req["cmd"]
        now = time.monotonic()
        if cmd == "load":
            avatar, name = req["avatar"], req["clip"]
            clip = self._resolve(name)
            if clip.num_frames < 1 or not (math.isfinite(clip.fps) and clip.fps > 0):
                raise ValueError(f"clip '{name}' has no frames or no positive frame rate")
            self.tracks[avatar] = _Track(clip, name)
            return {"ok": True, "frames": clip.num_frames, "fps": clip.fps, "duration_s": clip.duration_s}
        if cmd == "speak":
            return self._speak(req, now)
        if cmd == "play":
            tr = self._track(req)
            at = req.get("at_s")
            if at is not None and not now - AT_S_WINDOW[0] <= at <= now + AT_S_WINDOW[1]:
                raise ValueError(f"'play': field 'at_s' is {at:.3f}, more than {AT_S_WINDOW[0]:g} s before or "
                                 f"{AT_S_WINDOW[1]:g} s after the server's monotonic clock ({now:.3f})")
            tr.start_s = float(at) if at is not None else now + self.lead_s
            tr.loop = bool(req.get("loop", False))
            tr.next_frame = 0
            avatar = str(req.get("avatar"))
            self.live.pop(avatar, None)
            cued = self._cue_clip_audio(avatar, tr)
            return {"ok": True, "start_s": tr.start_s, "duration_s": tr.clip.duration_s, "audio_cued": cued}
        if cmd == "stop":
            tr = self._track(req)
            tr.start_s = None
            return {"ok": True}
        if cmd == "marker":
            self.markers.append((now, str(req.get("text", ""))))
            log.info("marker %.6f %s", now, req.get("text", ""))
            return {"ok": True, "time_s": now}
        if cmd == "status":
            return {"ok": True, "time_s": now, "avatars": {
                a: {"clip": t.clip_name, "playing": t.start_s is not None, "frames_sent": t.frames_sent,
                    "frame": t.next_frame if t.start_s is not None else t.held, "frames": t.clip.num_frames}
                for a, t in self.tracks.items()} | {
                a: {"live": True, "playing": not t.flushed, "frames_sent": t.frames_sent,
                    "audio_start_s": t.audio_start_s} for a, t in self.live.items()}}
        if cmd == "shutdown":
            self._running = False
            return {"ok": True}
        raise ValueError(f"unknown command '{cmd}'")

    def _speak(self, req: dict[str, Any], now: float) -> dict[str, Any]:
        """Start live motion for speech (``audio``: a wav path) with the live generator."""
        from vr_study.audio import read_audio

        if self._live_factory is None:
            raise ValueError("this server has no live generator; start it with --live METHOD")
        avatar = str(req.get("avatar", ""))
        if not avatar:
            raise ValueError("'speak' needs an 'avatar'")
        audio = read_audio(str(req.get("audio", ""))).resampled(self._live_rate)
        source = self._live_factory(str(req.get("emotion", "neutral")), int(req.get("seed", 0) or 0))
        now = time.monotonic()  # the speech starts arriving once the generator is ready
        track = _LiveTrack(source, audio.samples, self._live_rate, now, now + source.latency_s + self.lead_s)
        prev = self.live.get(avatar)
        if prev is not None:
            track.last = prev.last
        self.live[avatar] = track
        self.tracks.pop(avatar, None)
        if audio.path:
            self.publisher.send_audio_cue(avatar, track.audio_start_s, 0.0, str(Path(audio.path).resolve()))
        return {"ok": True, "audio_start_s": track.audio_start_s, "duration_s": audio.duration_s,
                "latency_s": source.latency_s}

    def _publish_live(self, avatar: str, tr: _LiveTrack, frames: MotionClip) -> None:
        if frames.num_frames == 0:
            return
        poses = frames.full_pose()
        for i in range(frames.num_frames):
            t = tr.audio_start_s + frames.meta.audio_offset_s + i / frames.fps
            self.publisher.send(avatar, t, frames.fps, poses[i], frames.transl[i], frames.expression[i])
            tr.frames_sent += 1
        if frames.num_frames:
            tr.last = (poses[-1], frames.transl[-1], frames.expression[-1], frames.fps)

    def _tick_live(self, now: float) -> float:
        next_due = now + 1.0 / self.idle_hz
        chunk_s = 0.02
        for avatar, tr in list(self.live.items()):
            if not tr.flushed:
                try:
                    upto = min(len(tr.samples), int((now - tr.arrival_s) * tr.sample_rate_hz))
                    if upto > tr.fed:
                        self._publish_live(avatar, tr, tr.source.feed(tr.samples[tr.fed:upto]))
                        tr.fed = upto
                    if tr.fed >= len(tr.samples):
                        self._publish_live(avatar, tr, tr.source.flush())
                        tr.flushed = True
                        tr.last_idle_s = now
                except Exception:  # a failing generator must not take the server down
                    log.exception("live generator for avatar %s failed; holding its last pose", avatar)
                    tr.flushed = True
                next_due = min(next_due, now + chunk_s)
            elif tr.last is not None and now - tr.last_idle_s >= 1.0 / self.idle_hz:
                pose, transl, expr, fps = tr.last
                self.publisher.send(avatar, max(now + self.lead_s, tr.audio_start_s + len(tr.samples) / tr.sample_rate_hz),
                                    fps, pose, transl, expr)
                tr.last_idle_s = now
        return next_due

    def _cue_clip_audio(self, avatar: str, tr: _Track) -> bool:
        """Tell renderers when to start the clip's speech (if it has a readable file)."""
        m = tr.clip.meta
        if not m.audio_path or not Path(m.audio_path).is_file() or tr.start_s is None:
            return False
        self.publisher.send_audio_cue(avatar, tr.start_s, m.audio_offset_s, str(Path(m.audio_path).resolve()),
                                      m.extra.get("library_audio"))
        return True

    def _track(self, req: dict[str, Any]) -> _Track:
        avatar = str(req.get("avatar", ""))
        if avatar not in self.tracks:
            raise ValueError(f"no clip loaded for avatar '{avatar}'; send 'load' first")
        return self.tracks[avatar]

    # ------------------------------------------------------------------ publishing
    def _publish(self, avatar: str, tr: _Track, frame: int, time_s: float) -> None:
        c = tr.clip
        self.publisher.send(avatar, time_s, c.fps, tr.poses[frame], c.transl[frame], c.expression[frame])
        tr.frames_sent += 1

    def tick(self, now: float) -> float:
        """Publish what is due at ``now``; return the monotonic time of the next due frame."""
        next_due = now + 1.0 / self.idle_hz
        for avatar, tr in self.tracks.items():
            c = tr.clip
            if tr.start_s is None:
                if now - tr.last_idle_s >= 1.0 / self.idle_hz:
                    self._publish(avatar, tr, tr.held, now + self.lead_s)
                    tr.last_idle_s = now
                next_due = min(next_due, tr.last_idle_s + 1.0 / self.idle_hz)
                continue
            while True:
                t_frame = tr.start_s + tr.next_frame / c.fps
                if t_frame - self.lead_s > now:
                    next_due = min(next_due, t_frame - self.lead_s)
                    break
                self._publish(avatar, tr, tr.next_frame, t_frame)
                tr.held = tr.next_frame
                tr.next_frame += 1
                if tr.next_frame >= c.num_frames:
                    if tr.loop:
                        tr.start_s += c.num_frames / c.fps
                        tr.next_frame = 0
                        self._cue_clip_audio(avatar, tr)
                    else:
                        tr.start_s = None
                        tr.last_idle_s = now
                        break
        return min(next_due, self._tick_live(now))

    def serve_forever(self, until_s: float | None = None) -> None:
        """Run until a ``shutdown`` command (or monotonic time ``until_s``)."""
        self._running = True
        poller = zmq.Poller()
        poller.register(self._control, zmq.POLLIN)
        while self._running:
            now = time.monotonic()
            if until_s is not None and now >= until_s:
                break
            try:
                next_due = self.tick(now)
            except Exception:  # noqa: BLE001 - publishing must not stop the server: drop what failed
                log.exception("publishing failed; stopping every avatar's playback")
                for tr in self.tracks.values():
                    tr.start_s = None
                    tr.last_idle_s = now
                self.live.clear()
                next_due = now + 1.0 / self.idle_hz
            wait_ms = max(0.0, (next_due - time.monotonic()) * 1000.0)
            if dict(poller.poll(timeout=min(wait_ms, 100.0))):
                self._serve_one()

    def _serve_one(self) -> None:
        """Answer one control request; whatever it holds, the loop goes on."""
        try:
            parts = self._control.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        try:
            if len(parts) != 1:
                raise ValueError(f"request has {len(parts)} frames; send one JSON frame")
            reply = self.handle(parse_request(parts[0]))
        except (ValueError, InputError) as e:
            reply = {"ok": False, "error": " ".join(str(e).split())[:1000]}
        except Exception as e:  # noqa: BLE001 - a command failing inside must not stop the server
            log.exception("control command failed")
            reply = {"ok": False, "error": f"server error ({type(e).__name__}); see the server log"}
        try:
            self._control.send_string(json.dumps(reply))
        except zmq.ZMQError:  # the client went away; REP is ready for the next request
            log.warning("could not send the control reply", exc_info=True)

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
        if self._control is not None:
            self._control.close(0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_ctx:
            self._ctx.term()
            self._own_ctx = False


def library_resolver(library_dir: str | Path | None) -> ClipResolver:
    """Resolve a clip name: a motion file path, or an id in the stimulus library's manifest."""
    from vr_study.formats import read_motion

    def resolve(name: str) -> MotionClip:
        p = Path(name)
        if p.suffix in (".npz", ".npy") and p.exists():
            clip = read_motion(p)
            audio = clip.meta.audio_path
            if audio and not Path(audio).is_absolute() and (p.parent / audio).is_file():
                clip.meta.audio_path = str((p.parent / audio).resolve())  # stored relative to the clip
            return clip
        if library_dir is not None:
            from vr_study.library import StimulusLibrary

            lib = StimulusLibrary.open(library_dir)
            clip = lib.read_clip(name)
            audio = lib.audio_of(name)
            clip.meta.audio_path = str(audio.resolve()) if audio is not None else None
            clip.meta.extra["library_audio"] = lib.entry(name).audio
            return clip
        raise InputError(name, None, "is neither a motion file nor a library clip id",
                         "give a path to a .npz or start the server with --library DIR")

    return resolve
