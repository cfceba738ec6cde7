"""The project's headless OpenXR test runtime: C source and the function that builds it.

:func:`build_test_runtime` compiles ``headless_runtime.c`` with gcc (headers from Debian's
``libopenxr-dev``) into a shared library in a cache directory keyed by the source's hash,
and writes the JSON manifest that the Khronos loader reads through ``XR_RUNTIME_JSON``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from vr_study.atomic import atomic_write_text

SOURCE_NAME = "headless_runtime.c"
LIBRARY_NAME = "libvrstudy_headless_xr.so"
MANIFEST_NAME = "vrstudy_headless_runtime.json"


class RuntimeBuildError(RuntimeError):
    """gcc or the OpenXR headers are missing, or the source did not compile."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vr-study/xr-runtime`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vr-study" / "xr-runtime"


def source_text() -> str:
    return resources.files(__package__).joinpath(SOURCE_NAME).read_text(encoding="utf-8")


def build_test_runtime(out_dir: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Compile the test runtime (once per source version) and return its manifest's path.

    Args:
        out_dir: where the library and manifest go; default: a per-source-hash folder
            under :func:`default_cache_dir`.
        force: rebuild even when an up-to-date build exists.
    Returns:
        Path of the JSON manifest; point ``XR_RUNTIME_JSON`` at it.
    """
    src = source_text()
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    out = Path(out_dir) if out_dir is not None else default_cache_dir() / digest
    lib = out / LIBRARY_NAME
    manifest = out / MANIFEST_NAME
    stamp = out / "source.sha256"
    if (not force and lib.is_file() and manifest.is_file() and stamp.is_file()
            and stamp.read_text().strip() == digest):
        return manifest
    gcc = shutil.which(os.environ.get("CC", "gcc"))
    if gcc is None:
        raise RuntimeBuildError("gcc not found: install gcc (Debian: apt-get install gcc)")
    if not Path("/usr/include/openxr/openxr.h").is_file() and "OPENXR_INCLUDE" not in os.environ:
        raise RuntimeBuildError("OpenXR headers not found: apt-get install libopenxr-dev "
                                "(or set OPENXR_INCLUDE to a folder holding openxr/openxr.h)")
    out.mkdir(parents=True, exist_ok=True)
    src_path = out / SOURCE_NAME
    src_path.write_text(src, encoding="utf-8")
    tmp_lib = out / (LIBRARY_NAME + f".tmp{os.getpid()}")
    cmd = [gcc, "-shared", "-fPIC", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
           "-fvisibility=hidden", str(src_path), "-o", str(tmp_lib), "-ldl", "-lm"]
    if "OPENXR_INCLUDE" in os.environ:
        cmd.insert(1, f"-I{os.environ['OPENXR_INCLUDE']}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeBuildError(f"compiling {src_path} failed:\n{proc.stderr.strip()}")
    os.replace(tmp_lib, lib)
    atomic_write_text(manifest, json.dumps({
        "file_format_version": "1.0.0",
        "runtime": {"name": "vr-study headless", "library_path": str(lib.resolve())},
    }, indent=2) + "\n")
    atomic_write_text(stamp, digest + "\n")
    return manifest


def runtime_env(manifest: str | os.PathLike, *, capture_dir: str | os.PathLike | None = None,
                capture_every: int = 1, exit_after_frames: int | None = None,
                loss_after_frames: int | None = None, view_size: tuple[int, int] | None = None,
                head_pose: str | None = None, ipd_m: float | None = None, paced: bool = True,
                log_path: str | os.PathLike | None = None, validation: bool = False,
                input_script: str | os.PathLike | None = None, hand_interaction: bool = False) -> dict[str, str]:
    """Environment variables that select the test runtime and script it (see the C source).

    ``validation``: also enable the Khronos core validation layer (text output on stderr).
    ``input_script``: scripted controllers (JSON Lines, XR_HEADLESS_INPUT_SCRIPT);
    ``hand_interaction``: offer XR_EXT_hand_interaction.
    """
    env = {"XR_RUNTIME_JSON": str(manifest)}
    if capture_dir is not None:
        env["XR_HEADLESS_CAPTURE_DIR"] = str(capture_dir)
        env["XR_HEADLESS_CAPTURE_EVERY"] = str(int(capture_every))
    if exit_after_frames is not None:
        env["XR_HEADLESS_EXIT_AFTER_FRAMES"] = str(int(exit_after_frames))
    if loss_after_frames is not None:
        env["XR_HEADLESS_LOSS_AFTER_FRAMES"] = str(int(loss_after_frames))
    if view_size is not None:
        env["XR_HEADLESS_VIEW_SIZE"] = f"{int(view_size[0])}x{int(view_size[1])}"
    if head_pose is not None:
        env["XR_HEADLESS_HEAD_POSE"] = head_pose
    if ipd_m is not None:
        env["XR_HEADLESS_IPD_M"] = repr(float(ipd_m))
    if not paced:
        env["XR_HEADLESS_NO_PACING"] = "1"
    if log_path is not None:
        env["XR_HEADLESS_LOG"] = str(log_path)
    if input_script is not None:
        env["XR_HEADLESS_INPUT_SCRIPT"] = str(input_script)
    if hand_interaction:
        env["XR_HEADLESS_HAND_INTERACTION"] = "1"
    if validation:
        env["XR_ENABLE_API_LAYERS"] = "XR_APILAYER_LUNARG_core_validation"
        env["XR_CORE_VALIDATION_EXPORT_TYPE"] = "text"
    return env
