"""Check that a TCP address can be listened on, before a server starts (one-line errors)."""
from __future__ import annotations

import errno
import socket

from vr_study.errors import InputError


def check_listen(host: str, port: int, what: str) -> None:
    """Raise :class:`InputError` if ``host:port`` is busy, unknown or not on this machine.

    ``port`` 0 (any free port) only checks the host. The server binds right after; another
    program taking the port in between still gets the server's own error.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError) as e:
        raise InputError(f"{host}", what, f"is not a usable address ({getattr(e, 'strerror', None) or e})",
                         "use 127.0.0.1, 0.0.0.0 or one of this machine's addresses") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise InputError(f"{host}:{port}", what, "is already in use by another program",
                                 "stop that program or choose another port (0 = any free port)") from None
            if e.errno in (errno.EACCES, errno.EPERM):
                raise InputError(f"{host}:{port}", what, "needs administrator rights (ports below 1024)",
                                 "choose a port above 1023") from None
            raise InputError(f"{host}:{port}", what, f"cannot be listened on ({e.strerror})",
                             "use 127.0.0.1, 0.0.0.0 or one of this machine's addresses") from None
