"""CurveZMQ keys, so that only the lab's pose server can publish into the headset.

The pose server holds a secret key; subscribers (the renderer) are given its public key
and refuse any publisher that cannot prove it holds the secret. Subscribers may also have
keys of their own, which the server can require (an allow-list of client public keys).
Key files are ZeroMQ's certificate format (``*.key`` public, ``*.key_secret`` secret).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

from vr_study.errors import InputError


@dataclass(frozen=True)
class CurveKeys:
    public: bytes
    secret: bytes | None = None


def create_keypair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` and ``name.key_secret`` into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pub, sec = zmq.auth.create_certificates(str(directory), name)
    Path(sec).chmod(0o600)
    return Path(pub), Path(sec)


def load_keys(path: str | Path) -> CurveKeys:
    """Load a public (``.key``) or secret (``.key_secret``) certificate file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "does not exist", "create keys with `vr-study stream keys -o DIR`")
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as e:
        raise InputError(path, None, f"is not a ZeroMQ certificate ({e})",
                         "create keys with `vr-study stream keys -o DIR`") from None
    return CurveKeys(public, secret)


def make_curve_server(socket: zmq.Socket, keys: CurveKeys) -> None:
    """Make ``socket`` a CURVE server with the secret key in ``keys``."""
    if keys.secret is None:
        raise InputError(None, "server key", "is a public key only", "give the server's .key_secret file")
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True


def make_curve_client(socket: zmq.Socket, server_public: bytes, client: CurveKeys | None = None) -> None:
    """Make ``socket`` a CURVE client that only talks to the server holding ``server_public``."""
    if client is None or client.secret is None:
        pub, sec = zmq.curve_keypair()
        client = CurveKeys(pub, sec)
    socket.curve_serverkey = server_public
    socket.curve_publickey = client.public
    socket.curve_secretkey = client.secret
