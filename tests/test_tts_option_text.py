"""TTS text that starts with '-' is spoken, never taken as an espeak-ng option."""
from __future__ import annotations

import shutil
import wave

import pytest

from vr_study.study.tts import EspeakNg


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.parametrize("text", ["--version", "-w /tmp/elsewhere.wav hello", "-"])
def test_text_starting_with_a_dash_is_spoken(tmp_path, text):
    out = EspeakNg().synthesize(text, tmp_path)
    with wave.open(str(out)) as w:
        assert w.getnframes() > 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
