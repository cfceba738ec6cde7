"""Keep native libraries' start-up chatter (MediaPipe's glog, FFmpeg's demuxer notes) off the terminal."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration: MediaPipe's C++ logs start-up
    warnings and FFmpeg logs demuxer notes there before any log level can be set.
    Python-level errors still propagate as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
