#!/usr/bin/env bash
# Regenerates assets/motion/sample.npz, the bundled sample clip that `vr-study demo` converts
# and renders: the built-in prosody generator on assets/speech/greeting.wav, happy, seed 0.
# The clip's audio path is stored relative to assets/ so the file can be moved.
set -euo pipefail
cd "$(dirname "$0")/.."
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"
tmp=$(mktemp -d)
.venv/bin/vr-study generate prosody --audio assets/speech/greeting.wav --emotion happy --seed 0 -o "$tmp/sample.npz"
.venv/bin/python - "$tmp/sample.npz" <<'PY'
import sys
from vr_study.formats import read_motion, write_motion
clip = read_motion(sys.argv[1])
clip.meta.audio_path = "speech/greeting.wav"  # relative to the assets folder
write_motion(clip, "assets/motion/sample.npz")
PY
rm -r "$tmp"
echo "wrote assets/motion/sample.npz"
