"""Binding and connecting ZeroMQ sockets, with one-line errors for bad or busy addresses."""
from __future__ import annotations

import errno

import zmq

from vr_study.errors import InputError


def _error(endpoint: str, what: str, e: zmq.ZMQError) -> InputError:
    if e.errno == errno.EADDRINUSE:
        return InputError(endpoint, what, "is already in use by another program",
                          "stop that program (an older pose server?) or choose another port")
    if e.errno == errno.EADDRNOTAVAIL:
        return InputError(endpoint, what, "names an address this machine does not have",
                          "use 127.0.0.1, 0.0.0.0 or one of this machine's addresses")
    return InputError(endpoint, what, f"is not a usable ZeroMQ address ({e.strerror})",
                      "write it like tcp://127.0.0.1:5556")


def bind(sock: zmq.Socket, endpoint: str, what: str) -> str:
    """Bind ``sock`` to ``endpoint``; return the bound address. Closes ``sock`` on failure."""
    try:
        sock.bind(endpoint)
        return sock.getsockopt_string(zmq.LAST_ENDPOINT)
    except zmq.ZMQError as e:
        sock.close(0)
        raise _error(endpoint, what, e) from None


def connect(sock: zmq.Socket, endpoint: str, what: str) -> None:
    """Connect ``sock`` to ``endpoint``. Closes ``sock`` on failure."""
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as e:
        sock.close(0)
        raise _error(endpoint, what, e) from None
