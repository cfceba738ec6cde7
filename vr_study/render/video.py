"""H.264 MP4 writing: raw RGB frames piped into ffmpeg, speech muxed in as AAC.

ffmpeg is Debian's (``ffmpeg`` on PATH) or, failing that, imageio-ffmpeg's bundled binary.
The soundtrack is cut to the video's span in Python (offset, padding with silence) and
handed to ffmpeg as a wav file, so the audio stream lasts exactly as long as the video
and ``-shortest`` (unreliable with piped frames) is never needed. Encoding flags are fixed
and bit-exact, so the same frames and sound give the same file.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vr_study.audio import Audio, write_wav

AUDIO_RATE_HZ = 48000


def find_ffmpeg() -> str:
    """Path of an ffmpeg executable (Debian's first, then imageio-ffmpeg's)."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def soundtrack(audio: Audio, offset_s: float, duration_s: float) -> Audio:
    """The part of ``audio`` from ``offset_s`` seconds lasting ``duration_s`` seconds.

    Missing samples (before the start for a negative offset, after the end) are silence.
    """
    rate = audio.sample_rate_hz
    n = int(round(duration_s * rate))
    start = int(round(offset_s * rate))
    out = np.zeros(n, np.float32)
    src_a, src_b = max(0, start), min(len(audio.samples), start + n)
    if src_b > src_a:
        out[src_a - start:src_b - start] = audio.samples[src_a:src_b]
    return Audio(out, rate, 1, audio.path)


class VideoWriter:
    """Write (height, width, 3) uint8 RGB frames to an H.264 (yuv420p) MP4 at ``fps`` Hz.

    ``audio`` (already cut to the video's span, see :func:`soundtrack`) is muxed as AAC.
    Use as a context manager; on an exception ffmpeg is stopped and ``path`` removed.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float,
                 audio: Audio | None = None, crf: int = 18, preset: str = "medium"):
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.frames_written = 0
        self._tmpdir = tempfile.TemporaryDirectory(prefix="vr-study-video-")
        self._log = open(Path(self._tmpdir.name) / "ffmpeg.log", "w+b")
        cmd = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}",
               "-framerate", f"{self.fps:.6g}", "-i", "pipe:0"]
        if audio is not None:
            wav = Path(self._tmpdir.name) / "speech.wav"
            write_wav(wav, audio)
            cmd += ["-i", str(wav), "-map", "0:v:0", "-map", "1:a:0",
                    "-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE_HZ), "-flags:a", "+bitexact"]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
                "-flags:v", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
                "-movflags", "+faststart", "-f", "mp4", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB frame (height, width, 3) uint8."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be ({self.height}, {self.width}, 3) uint8, got {frame.shape} {frame.dtype}")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self._fail("ffmpeg stopped reading frames")
        self.frames_written += 1

    def _stderr(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def _fail(self, what: str) -> None:
        message = self._stderr()[-2000:]
        self.abort()
        self._cleanup()
        raise RuntimeError(f"{what}: {message}")

    def close(self) -> None:
        """Finish the file; raise RuntimeError with ffmpeg's message if encoding failed."""
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        rc = self._proc.wait()
        if rc != 0:
            self._fail(f"ffmpeg exited with code {rc}")
        self._cleanup()

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.path.unlink(missing_ok=True)

    def _cleanup(self) -> None:
        self._log.close()
        self._tmpdir.cleanup()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
            self._cleanup()
