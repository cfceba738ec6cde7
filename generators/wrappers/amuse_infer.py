"""Run AMUSE's own inference on one speech file; vr-study ships this wrapper.

Run it with AMUSE's Python (its conda environment); it uses only the standard library:

    python amuse_infer.py --checkout /opt/amuse --audio speech.wav --out result_motion_smplx.npz [--seed 2024]

What AMUSE's real code (kiranchhatre/amuse 1978d3a) needs, and what this does about it:
- scripts/main.py accepts only --cfg --wandb --fn (main.py:237-243) and must run from
  <checkout>/scripts; it uses cluster paths unless the checkout folder is named "amuse"
  (main.py:229-235): checked here, with a clear error.
- --fn infer_gesture merges scripts/overrides/infer_gesture.yaml into configs/base_new.json
  and writes it back (main.py:246-266); the seed is TRAIN_PARAM.seed (main.py:78).
- It reads every wav in TRAIN_PARAM.baselines.renders.custom_audios and writes
  <custom_renders>/Custom_audios_<stamp>_E<epoch>/rep<r>/rst_0/seq_<i>/<actor>_seq_<i>_<6 random
  chars>_motion_smplx.npz (scripts/trainer.py:505-539, models/diffusion/viz/visualizer.py:309-364),
  then renders it with Blender (visualizer.py:366-370), which can fail after the .npz exists.
So this wrapper puts the speech alone into a fresh custom-audio folder, points
configs/base_new.json at it (restoring the file afterwards), runs infer_gesture, and copies
the newest *_motion_smplx.npz written by this run to --out. A failure after that file was
written becomes a line starting with "vr-study-warning:" on stderr. One run at a time per
checkout (a lock file in the checkout).
Exit codes: 0 done, 1 AMUSE failed without a result, 2 bad installation or arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

WARNING = "vr-study-warning:"


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def set_in(config: dict, keys: list[str], value) -> None:
    node = config
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            fail(f"configs/base_new.json has no '{'.'.join(keys[:-1])}' section; is this AMUSE's checkout at 1978d3a?")
        node = node[k]
    node[keys[-1]] = value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="run AMUSE infer_gesture on one wav (vr-study wrapper)")
    p.add_argument("--checkout", required=True, help="AMUSE's checkout (its folder must be named 'amuse')")
    p.add_argument("--audio", required=True, help="16 kHz mono wav, at most 10 s")
    p.add_argument("--out", required=True, help="where to copy the resulting *_motion_smplx.npz")
    p.add_argument("--seed", type=int, default=None, help="TRAIN_PARAM.seed (AMUSE's default 2024)")
    p.add_argument("--keep", action="store_true", help="keep the run folder under viz_dump/vr-study/")
    args = p.parse_args(argv)

    checkout = Path(args.checkout).resolve()
    if checkout.name != "amuse":
        fail(f"AMUSE's checkout is '{checkout}', but scripts/main.py switches to cluster paths unless its folder is "
             "named 'amuse' (main.py:229-235); rename the folder (a symlink is not enough) and set workdir to it")
    main_py = checkout / "scripts" / "main.py"
    cfg_path = checkout / "configs" / "base_new.json"
    for needed in (main_py, cfg_path):
        if not needed.is_file():
            fail(f"'{needed}' does not exist: workdir must be AMUSE's checkout")
    audio = Path(args.audio).resolve()
    if not audio.is_file():
        fail(f"'{audio}' does not exist")

    import fcntl

    lock = open(checkout / ".vr-study.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    run = checkout / "viz_dump" / "vr-study" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    speech_dir, render_dir = run / "speech", run / "gesture"
    speech_dir.mkdir(parents=True)
    render_dir.mkdir()
    shutil.copyfile(audio, speech_dir / audio.name)
    original = cfg_path.read_text(encoding="utf-8")
    try:
        config = json.loads(original)
        set_in(config, ["TRAIN_PARAM", "baselines", "renders", "task"], "custom_renders")
        set_in(config, ["TRAIN_PARAM", "baselines", "renders", "custom_audios"], str(speech_dir))
        set_in(config, ["TRAIN_PARAM", "baselines", "renders", "custom_renders"], str(render_dir))
        set_in(config, ["TRAIN_PARAM", "test", "replication_times"], 1)
        if args.seed is not None:
            set_in(config, ["TRAIN_PARAM", "seed"], int(args.seed))
        tmp = cfg_path.with_name(cfg_path.name + ".vr-study.tmp")
        tmp.write_text(json.dumps(config, indent=4), encoding="utf-8")
        os.replace(tmp, cfg_path)
        started = time.time()
        proc = subprocess.run([sys.executable, "main.py", "--fn", "infer_gesture"], cwd=checkout / "scripts",
                              capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        found = [f for f in render_dir.rglob("*_motion_smplx.npz") if f.stat().st_mtime >= started - 1.0]
        if not found:
            last = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["(no output)"]
            print(f"error: AMUSE wrote no *_motion_smplx.npz under {render_dir} (exit code {proc.returncode}: "
                  f"{last[0]})", file=sys.stderr)
            return 1
        newest = max(found, key=lambda f: f.stat().st_mtime)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        shutil.copyfile(newest, part)
        os.replace(part, out)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["(no output)"]
            print(f"{WARNING} AMUSE exited with code {proc.returncode} after writing {newest.name} "
                  f"(its Blender rendering step failed: {last[0]}); the motion was used", file=sys.stderr)
        return 0
    finally:
        tmp = cfg_path.with_name(cfg_path.name + ".vr-study.tmp")
        tmp.write_text(original, encoding="utf-8")
        os.replace(tmp, cfg_path)
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
