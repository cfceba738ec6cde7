"""Frames from a video file, a folder of images or one image, as RGB uint8 arrays.

OpenCV decodes; a background thread reads ahead so that decoding overlaps landmark
detection. Frames larger than ``max_side_px`` on their longer side are shrunk (landmarks
are in normalised image coordinates, so this changes nothing downstream but speed).
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vr_study.errors import InputError

from .quiet import native_stderr_silenced

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_SIDE_PX = 1280


@dataclass
class FrameSource:
    """What we know about an input before decoding it all.

    ``fps`` in Hz; ``num_frames`` may be an estimate for videos (container metadata);
    ``width_px``/``height_px`` after shrinking; ``kind`` is 'video', 'images' or 'image'.
    """

    path: Path
    kind: str
    fps: float
    num_frames: int
    width_px: int
    height_px: int
    image_paths: tuple[Path, ...] = ()


def _shrink(rgb: np.ndarray, max_side_px: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= max_side_px:
        return rgb
    f = max_side_px / max(h, w)
    return cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)


def _read_image(path: Path, max_side_px: int) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, None, "is not a readable image", "give a PNG/JPEG file")
    return _shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side_px)


def open_source(path: str | Path, fps_in: float | None = None, max_side_px: int = MAX_SIDE_PX) -> FrameSource:
    """Inspect ``path`` (video, image folder or image); raise :class:`InputError` if unusable.

    ``fps_in`` (Hz) is required meaning for image folders (default 30) and overrides a
    video's own rate when given.
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "does not exist", "check the path")
    if fps_in is not None and not (1.0 <= fps_in <= 1000.0):
        raise InputError(path, "--fps-in", f"is {fps_in} Hz", "give a frame rate between 1 and 1000 Hz")
    if path.is_dir():
        images = tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        if not images:
            raise InputError(path, None, "holds no images", f"put frames ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        first = _read_image(images[0], max_side_px)
        return FrameSource(path, "images", float(fps_in or 30.0), len(images), first.shape[1], first.shape[0], images)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        img = _read_image(path, max_side_px)
        return FrameSource(path, "image", float(fps_in or 30.0), 1, img.shape[1], img.shape[0], (path,))
    with native_stderr_silenced():
        cap = cv2.VideoCapture(str(path))
    try:
        ok, bgr = cap.read() if cap.isOpened() else (False, None)
        if not ok or bgr is None:
            raise InputError(path, None, "is not a readable video (OpenCV could not decode a frame)",
                             "check the file, or convert it with `ffmpeg -i IN -c:v libx264 OUT.mp4`")
        fps = float(fps_in or cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (1.0 <= fps <= 1000.0):
            raise InputError(path, "fps", f"the video reports {fps} frames per second",
                             "give the rate with --fps-in")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        h, w = _shrink(bgr, max_side_px).shape[:2]
    finally:
        cap.release()
    return FrameSource(path, "video", fps, max(n, 1), w, h)


def iter_frames(source: FrameSource, max_side_px: int = MAX_SIDE_PX, read_ahead: int = 8) -> Iterator[np.ndarray]:
    """Yield (H,W,3) RGB uint8 frames in order, decoded by a read-ahead thread."""
    q: queue.Queue = queue.Queue(maxsize=read_ahead)
    stop = threading.Event()
    DONE = object()

    def produce() -> None:
        import cv2

        try:
            if source.kind == "video":
                cap = cv2.VideoCapture(str(source.path))
                try:
                    while not stop.is_set():
                        ok, bgr = cap.read()
                        if not ok:
                            break
                        q.put(_shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side_px))
                finally:
                    cap.release()
            else:
                for p in source.image_paths:
                    if stop.is_set():
                        break
                    q.put(_read_image(p, max_side_px))
        except BaseException as e:  # handed to the consumer
            q.put(e)
        q.put(DONE)

    thread = threading.Thread(target=produce, name="frame-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
