"""CurveZMQ keys, so that only the lab's pose server can publish into the headset.

The pose server holds a secret key; clients (the renderer, the session runner) are given
its public key and refuse any server that cannot prove it holds the secret. Clients have
key pairs of their own too, and the server admits only the client public keys on its
allow-list: :func:`start_authenticator` runs a ZAP handler (pyzmq's
``ThreadAuthenticator``) that checks every CURVE handshake on the server's context, so a
client whose key is not listed cannot connect to the control socket (``load``, ``play``,
``shutdown``) nor subscribe to the poses. Key files are ZeroMQ's certificate format
(``*.key`` public, ``*.key_secret`` secret).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

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
    """Make ``socket`` a CURVE client that only talks to the server holding ``server_public``.

    ``client``: this client's key pair (a server with an allow-list admits only listed
    public keys); without it a throw-away pair is made, which only open servers accept.
    """
    if client is not None and client.secret is None:
        raise InputError(None, "client key", "is a public key only", "give the client's .key_secret file")
    if client is None:
        pub, sec = zmq.curve_keypair()
        client = CurveKeys(pub, sec)
    socket.curve_serverkey = server_public
    socket.curve_publickey = client.public
    socket.curve_secretkey = client.secret


def load_public_keys(paths: list[str | Path]) -> list[bytes]:
    """Public keys from certificate files (``.key`` or ``.key_secret``) or folders of ``*.key``."""
    out: list[bytes] = []
    for path in map(Path, paths):
        files = sorted(path.glob("*.key")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise InputError(path, None, "holds no public key files (*.key)", "create keys with `vr-study stream keys`")
        out += [load_keys(f).public for f in files]
    return out


class _AllowList:
    """ZAP credentials provider: a CURVE client is admitted when its public key is listed."""

    def __init__(self, keys: list[bytes]):
        self.keys = frozenset(bytes(k) for k in keys)

    def callback(self, domain: str, key: bytes) -> bool:  # key: the client's public key, Z85
        return bytes(key) in self.keys


def start_authenticator(context: zmq.Context, allowed_clients: list[bytes]) -> ThreadAuthenticator:
    """Admit only ``allowed_clients`` (Z85 public keys) to CURVE server sockets of ``context``.

    Stop the returned authenticator (``.stop()``) before terminating the context.
    """
    if not allowed_clients:
        raise InputError(None, "client keys", "none are allowed", "list the renderer's and the session's public keys")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve_callback("*", credentials_provider=_AllowList(list(allowed_clients)))
    return auth
