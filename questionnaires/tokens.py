"""Signed tokens: a tablet's proof that it joined one session, and the experimenter's login.

A token is ``<kind>.<subject>.<issued_unix_s>.<hmac-sha256 hex>``; the HMAC covers the first
three parts. Nothing is stored server-side, so a restarted server accepts the tokens it
issued before as long as it uses the same secret (the tablet app keeps its secret in the
study database's ``meta`` table).
"""
from __future__ import annotations

import hashlib
import hmac
import time


def sign(secret: bytes, kind: str, subject: str, issued_s: int | None = None) -> str:
    """A token binding ``kind`` (e.g. ``tablet``) to ``subject`` (e.g. a session id)."""
    if "." in kind or "." in subject:
        raise ValueError("kind and subject must not contain '.'")
    issued = int(time.time() if issued_s is None else issued_s)
    body = f"{kind}.{subject}.{issued}"
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def verify(secret: bytes, token: str | None, kind: str, max_age_s: float | None = None) -> str | None:
    """The subject of a valid token of ``kind``, or None (bad signature, wrong kind, expired)."""
    if not token or token.count(".") != 3:
        return None
    k, subject, issued, mac = token.split(".")
    expected = hmac.new(secret, f"{k}.{subject}.{issued}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected) or k != kind:
        return None
    if max_age_s is not None:
        try:
            if time.time() - int(issued) > max_age_s:
                return None
        except ValueError:
            return None
    return subject
