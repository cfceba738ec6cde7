"""Shared pytest set-up (keep minimal)."""
import os
from pathlib import Path

# liblsl must never multicast or broadcast from a test: restrict it to loopback before any
# test imports pylsl (REFERENCE.md section 8).
os.environ["LSLAPICFG"] = str(Path(__file__).with_name("lsl_loopback.cfg"))

# librosa's pyin/onset code compiles with numba on first use: cache it inside the checkout.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))
