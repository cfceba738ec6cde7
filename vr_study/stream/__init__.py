"""The pose stream: SMPL-X poses over ZeroMQ from a pose server to renderers.

- :mod:`protocol`: the wire format (multipart: topic, versioned header, float32 payload)
- :mod:`publisher` / :mod:`subscriber`: the two ends; :mod:`jitter`: interpolation buffer
- :mod:`server` / :mod:`control`: playing clips on command
- :mod:`security`: CurveZMQ keys
"""
from vr_study.stream.control import ControlError, StreamControl
from vr_study.stream.protocol import PoseSample
from vr_study.stream.publisher import PosePublisher
from vr_study.stream.server import PoseServer, library_resolver
from vr_study.stream.subscriber import PoseSubscriber, StreamStats

DEFAULT_PUB = "tcp://127.0.0.1:5555"
DEFAULT_CONTROL = "tcp://127.0.0.1:5556"

__all__ = ["ControlError", "DEFAULT_CONTROL", "DEFAULT_PUB", "PosePublisher", "PoseSample", "PoseServer",
           "PoseSubscriber", "StreamControl", "StreamStats", "library_resolver"]
