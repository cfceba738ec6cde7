"""What keeps strangers off the tablet pages: attempt limits, request-size limit, CSRF, device ids.

- :class:`AttemptLimiter`: failures per key (a client address, a session, everyone) in a
  sliding window; too many lock the key out for a time that doubles with every lockout.
- :class:`BodyLimit`: ASGI middleware refusing a request body over ``max_bytes`` with 413,
  from its ``Content-Length`` before reading any of it, or as soon as a chunked body
  passes the limit (memory stays bounded by the limit).
- Device ids: a random ``vrs_device`` cookie names a browser; a session is bound to the
  first device that joins it (the database keeps only the id's SHA-256).
- CSRF: every form carries ``HMAC(secret, "csrf:" + device id)``; a post whose field does
  not match its own device cookie is refused (a page of another site cannot read either).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from starlette.requests import Request

DEVICE_COOKIE = "vrs_device"
#: How long a device cookie lives (seconds): a study's tablets keep their id for its duration.
DEVICE_COOKIE_MAX_AGE_S = 180 * 24 * 3600
#: Largest request body accepted (bytes); a full questionnaire screen is a few KiB.
MAX_BODY_BYTES = 64 * 1024
CSRF_FIELD = "csrf"
_DEVICE_RE = re.compile(r"[A-Za-z0-9_-]{22,64}")


@dataclass
class _Record:
    failures: deque = field(default_factory=deque)   # monotonic times (s) of recent failures
    locked_until_s: float = 0.0
    lockouts: int = 0


@dataclass
class AttemptLimiter:
    """Failed attempts per key; ``max_failures`` within ``window_s`` seconds lock the key out.

    The n-th lockout of a key lasts ``lockout_s * 2**(n-1)`` seconds, at most
    ``max_lockout_s``. A success clears the key's failures (not its lockout count, so a
    guesser who also knows one valid code gains nothing). At most ``max_keys`` keys are
    remembered (the stalest are dropped first). Thread-safe; ``clock`` returns seconds.
    """

    max_failures: int = 5
    window_s: float = 600.0
    lockout_s: float = 60.0
    max_lockout_s: float = 900.0
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def locked_for_s(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        with self._lock:
            r = self._records.get(key)
            return 0.0 if r is None else max(0.0, r.locked_until_s - self.clock())

    def fail(self, key: str) -> float:
        """Count a failure of ``key``; the lockout it starts in seconds (0 for none)."""
        now = self.clock()
        with self._lock:
            r = self._records.pop(key, None) or _Record()
            self._records[key] = r                      # most recently used last
            while r.failures and now - r.failures[0] > self.window_s:
                r.failures.popleft()
            r.failures.append(now)
            locked = 0.0
            if len(r.failures) >= self.max_failures:
                r.lockouts += 1
                locked = min(self.max_lockout_s, self.lockout_s * 2 ** (r.lockouts - 1))
                r.locked_until_s = now + locked
                r.failures.clear()
            while len(self._records) > self.max_keys:
                self._records.pop(next(iter(self._records)))
            return locked

    def failures(self, key: str) -> int:
        """Failures of ``key`` in the current window (since its last lockout)."""
        now = self.clock()
        with self._lock:
            r = self._records.get(key)
            return 0 if r is None else sum(1 for t in r.failures if now - t <= self.window_s)

    def succeed(self, key: str) -> None:
        """Forget ``key``'s failures (a correct code or token)."""
        with self._lock:
            r = self._records.get(key)
            if r is not None:
                r.failures.clear()

    def reset(self, key: str) -> None:
        """Forget everything about ``key`` (the experimenter released it)."""
        with self._lock:
            self._records.pop(key, None)


@dataclass
class Limiters:
    """The app's attempt limiters: per client address, per session, and over all clients."""

    client: AttemptLimiter = field(default_factory=AttemptLimiter)
    session: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(max_failures=3, lockout_s=300.0,
                                                                          max_lockout_s=1800.0))
    everyone: AttemptLimiter = field(default_factory=lambda: AttemptLimiter(max_failures=60, window_s=60.0,
                                                                           lockout_s=60.0, max_lockout_s=600.0))


def client_key(request: Request) -> str:
    """The address a request came from (the unit of per-client limits)."""
    return request.client.host if request.client else "?"


def device_id(request: Request) -> str | None:
    """This browser's device id (its ``vrs_device`` cookie), or None when absent or malformed."""
    d = request.cookies.get(DEVICE_COOKIE)
    return d if d is not None and _DEVICE_RE.fullmatch(d) else None


def new_device_id() -> str:
    """A fresh random device id (128 bits)."""
    return secrets.token_urlsafe(16)


def device_hash(device: str) -> str:
    """What the database keeps of a device id (SHA-256 hex; the id itself stays on the tablet)."""
    return hashlib.sha256(device.encode()).hexdigest()


def csrf_token(secret: bytes, device: str) -> str:
    """The CSRF field of forms rendered for ``device``."""
    return hmac.new(secret, f"csrf:{device}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, request: Request, posted: str) -> bool:
    """True when ``posted`` is the CSRF token of the request's own device cookie."""
    device = device_id(request)
    return device is not None and hmac.compare_digest(posted.encode(), csrf_token(secret, device).encode())


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes`` without buffering it.

    A declared ``Content-Length`` over the limit is refused before the body is read; a
    chunked body is counted as the app reads it and cut off at the limit. The reply closes
    the connection, so the rest of an oversized upload is never stored.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:  # noqa: ANN001 - any ASGI app
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send) -> None:  # noqa: ANN001 - ASGI
        body = f"request body over {self.max_bytes} bytes\n".encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive():  # noqa: ANN202
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked_send(message) -> None:  # noqa: ANN001
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)


class _TooLarge(Exception):
    pass
