"""WebSocket bridge: the ZeroMQ pose stream forwarded to browsers (the WebXR page).

Browsers cannot speak ZeroMQ, so the web server subscribes to the pose server and forwards
every pose and audio-cue message to each connected page as one binary WebSocket message::

    u8 topic length | topic (avatar id, UTF-8) | header | payload

``header`` and ``payload`` are the protocol's own bytes, unchanged
(:mod:`vr_study.stream.protocol`: 36-byte ``VRPS`` pose header + float32 payload, or the
``VRAC`` audio-cue header + JSON), so the page parses the same layout the Python subscriber
does. Messages that do not follow the protocol are dropped here and counted, as the
subscriber does. Each page has a bounded queue: a page that reads too slowly loses its
oldest messages (counted), never the server's memory.

Clock: a page estimates the offset between its clock and the shared monotonic clock by
sending ``{"type": "ping", "id": n, "client_ms": t}``; :func:`pong` answers with the
server's ``time.monotonic()``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.asyncio

from vr_study.stream.endpoint import connect
from vr_study.stream.protocol import MalformedMessage, decode_audio_cue, decode_pose, is_audio_cue
from vr_study.stream.security import CurveKeys, make_curve_client

log = logging.getLogger(__name__)

#: Messages a page may have waiting before its oldest are dropped (2.8 s of 2 avatars at 90 Hz).
QUEUE_MESSAGES = 512


def bridge_message(frames: list[bytes]) -> bytes:
    """One WebSocket message from a pose or audio-cue multipart message (see module docstring).

    Raises :class:`MalformedMessage` for anything the subscriber would drop.
    """
    if is_audio_cue(frames):
        decode_audio_cue(frames)
    else:
        decode_pose(frames)
    topic = bytes(frames[0])
    return bytes([len(topic)]) + topic + bytes(frames[1]) + bytes(frames[2])


def pong(message: dict[str, Any], now_s: float | None = None) -> dict[str, Any] | None:
    """The reply to a page's clock ping (None when ``message`` is not one).

    ``server_s``: this machine's ``time.monotonic()`` (s) when answering; the page takes the
    offset from the ping with the shortest round trip.
    """
    if message.get("type") != "ping":
        return None
    cid, cms = message.get("id"), message.get("client_ms")
    if not isinstance(cid, int) or isinstance(cid, bool) or not isinstance(cms, (int, float)):
        return None
    return {"type": "pong", "id": cid, "client_ms": cms, "server_s": time.monotonic() if now_s is None else now_s}


@dataclass
class BridgeStats:
    """Counters of one bridge: messages forwarded, dropped as malformed, dropped for slow pages."""

    received: int = 0
    forwarded: int = 0
    dropped_malformed: int = 0
    dropped_slow_page: int = 0
    pages: int = 0


@dataclass
class PoseBridge:
    """Subscribes to ``endpoint`` and fans messages out to the pages' queues.

    ``server_public_key`` / ``client_keys``: CurveZMQ as for :class:`~vr_study.stream.PoseSubscriber`.
    Runs inside the web server's event loop (:meth:`run`); pages :meth:`attach` a queue and
    :meth:`detach` it when they close. The ZeroMQ socket is created on the first attach, so
    a web server whose pages never connect never subscribes.
    """

    endpoint: str
    server_public_key: bytes | None = None
    client_keys: CurveKeys | None = None
    queue_messages: int = QUEUE_MESSAGES
    stats: BridgeStats = field(default_factory=BridgeStats)
    _queues: set = field(default_factory=set)
    _task: asyncio.Task | None = None

    def attach(self) -> asyncio.Queue:
        """A new page's queue of WebSocket messages (bytes); starts the bridge if needed."""
        q: asyncio.Queue = asyncio.Queue(self.queue_messages)
        self._queues.add(q)
        self.stats.pages = len(self._queues)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())
        return q

    def detach(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)
        self.stats.pages = len(self._queues)

    def _publish(self, message: bytes) -> None:
        for q in list(self._queues):
            if q.full():
                q.get_nowait()
                self.stats.dropped_slow_page += 1
            q.put_nowait(message)

    async def run(self) -> None:
        """Receive until cancelled (or the web server stops)."""
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 10000)
        sock.setsockopt(zmq.RECONNECT_IVL, 50)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        if self.server_public_key is not None:
            make_curve_client(sock, self.server_public_key, self.client_keys)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        connect(sock, self.endpoint, "pose address")
        try:
            while True:
                frames = await sock.recv_multipart()
                self.stats.received += 1
                try:
                    message = bridge_message(frames)
                except (MalformedMessage, ValueError) as e:
                    self.stats.dropped_malformed += 1
                    log.debug("bridge dropped a malformed message: %s", e)
                    continue
                self.stats.forwarded += 1
                self._publish(message)
        finally:
            sock.close(0)
            ctx.term()

    def close(self) -> None:
        """Stop receiving (from the event loop's thread)."""
        if self._task is not None:
            self._task.cancel()
