"""Text-to-speech for the agent's turns: pluggable backends, espeak-ng by default.

A backend turns text into a mono wav file and caches it by the text and voice settings,
so a session (and its resume) speaks identical audio for identical turns.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Protocol

from vr_study.atomic import atomic_path
from vr_study.errors import InputError


class TtsBackend(Protocol):
    def synthesize(self, text: str, out_dir: Path) -> Path:
        """Write speech for ``text`` as a wav file under ``out_dir``; return its path."""


class EspeakNg:
    """espeak-ng (Debian package ``espeak-ng``): ``voice`` (e.g. en-us), ``rate_wpm`` words/minute,
    ``pitch`` 0..99."""

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50, executable: str = "espeak-ng"):
        self.voice, self.rate_wpm, self.pitch = voice, int(rate_wpm), int(pitch)
        self.executable = shutil.which(executable) or shutil.which("espeak")
        if self.executable is None:
            raise InputError(None, "interaction.tts.backend", "espeak-ng is not installed",
                             "apt-get install espeak-ng, or set interaction.tts.backend: none")

    def synthesize(self, text: str, out_dir: Path) -> Path:
        key = hashlib.sha256(f"espeak-ng|{self.voice}|{self.rate_wpm}|{self.pitch}|{text}".encode()).hexdigest()[:16]
        out = Path(out_dir) / f"tts_{key}.wav"
        if out.is_file():
            return out
        with atomic_path(out) as tmp:  # "--": text starting with "-" is spoken, not taken as an option
            subprocess.run([self.executable, "-v", self.voice, "-s", str(self.rate_wpm), "-p", str(self.pitch),
                            "-w", str(tmp), "--", text], check=True, capture_output=True, timeout=60)
        return out


def make_backend(tts_spec) -> TtsBackend | None:
    """The backend a spec's ``interaction.tts`` names (None for ``none``)."""
    if tts_spec.backend == "none":
        return None
    return EspeakNg(tts_spec.voice, tts_spec.rate_wpm, tts_spec.pitch)
