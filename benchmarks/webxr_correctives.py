"""Cost of SMPL-X pose correctives on the WebXR page: with and without, in the same run.

Two body models, one after the other, each served by the WebXR server (``questionnaires.webxr``,
HTTPS, WebSocket bridge) to Debian's Chromium (headless, SwiftShader WebGL: the "GPU" is the
CPU) at 640x480, with one avatar animated by a 72 Hz pose stream (in-process publisher):

* ``default``: the default body (no posedirs): three.js's own skinning shader;
* ``real_layout``: the same body with dense posedirs on all 10,475 vertices (486 features,
  as a real SMPL-X file; made up, as ``benchmarks/xr_frame.py --real-layout``): the page's
  corrective chunk (122 x 3 texel fetches per vertex) and the per-frame pose feature.

Reported per model: the model files' size and build time, the page's frames/s, and its
per-frame JS time for posing the avatar (``setPose``: joints, bone quaternions and, with
correctives, the 486-number pose feature) and for ``renderer.render`` (which uploads the
feature's 122 vec4 uniforms). Micro-benchmarks in the same page: the pose feature alone
(``poseFeatures``, 20,000 calls) and a ``uniform4fv`` of 122 vec4 (the upload, 20,000 calls).

    python benchmarks/webxr_correctives.py --quick     # 8 s per model (< 60 s in all)

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _webxr_page import paired_page  # noqa: E402  (benchmarks/_webxr_page.py)
from vr_study.body.real_layout import with_dense_posedirs  # noqa: E402

RATE_HZ = 72.0
ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

MICRO = """async () => {
  const m = await import('/w/static/avatar.js');
  const pose = new Float32Array(165).map((_, i) => 0.3 * Math.sin(i)), out = new Float32Array(488);
  const n = 20000;
  for (let i = 0; i < 2000; i++) m.poseFeatures(pose, out);
  let t = performance.now();
  for (let i = 0; i < n; i++) { pose[3] = i * 1e-5; m.poseFeatures(pose, out); }
  const featureUs = (performance.now() - t) * 1000 / n;
  const gl = document.createElement('canvas').getContext('webgl2');
  const sh = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s; };
  const p = gl.createProgram();
  gl.attachShader(p, sh(gl.VERTEX_SHADER, '#version 300 es\\nuniform vec4 f[122];\\n' +
    'void main() { vec4 s = vec4(0.0); for (int g = 0; g < 122; g++) s += f[g]; gl_Position = s; }'));
  gl.attachShader(p, sh(gl.FRAGMENT_SHADER, '#version 300 es\\nprecision highp float; out vec4 c;\\nvoid main() { c = vec4(1.0); }'));
  gl.linkProgram(p);
  gl.useProgram(p);
  const loc = gl.getUniformLocation(p, 'f');
  t = performance.now();
  for (let i = 0; i < n; i++) { out[0] = i; gl.uniform4fv(loc, out, 0, 488); }
  gl.finish();
  const uploadUs = (performance.now() - t) * 1000 / n;
  return { featureUs, uploadUs };
}"""


def stream(pub, stop: threading.Event) -> None:
    """One avatar at RATE_HZ: arms, elbows and the body turning (every pose feature changes)."""
    t0, k = time.monotonic(), 0
    while not stop.is_set():
        due = t0 + k / RATE_HZ
        while (d := due - time.monotonic()) > 0:
            time.sleep(min(d, 0.001))
        s = k / RATE_HZ
        pose = np.zeros((55, 3), np.float32)
        pose[0, 1] = 0.4 * np.sin(0.5 * s)
        pose[16, 2] = -0.3 - 0.8 * np.sin(np.pi * s)
        pose[17, 2] = 0.3 + 0.6 * np.sin(1.3 * s)
        pose[19, 1] = -0.6 - 0.5 * np.sin(2.0 * s)
        pub.send("agent", time.monotonic() + 0.03, RATE_HZ, pose, np.zeros(3), np.zeros(10))
        k += 1


def run_model(body, seconds: float, tmp: Path) -> dict:
    from questionnaires.webxr_model import web_model
    from vr_study.stream import PosePublisher

    t = time.perf_counter()
    model = web_model(body)
    build_s = time.perf_counter() - t
    pub = PosePublisher("tcp://127.0.0.1:*")
    stop = threading.Event()
    sender = threading.Thread(target=stream, args=(pub, stop), daemon=True)
    sender.start()
    try:
        with paired_page(tmp, pub.endpoint, lambda: model, ARGS, panels=False) as page:
            t = time.perf_counter()
            end = time.monotonic() + 60
            while not page.evaluate("!!(window.vrStudy && vrStudy.ready && vrStudy.avatars.agent)"):
                if time.monotonic() > end:
                    raise RuntimeError(f"the page did not start: {page.evaluate('window.vrStudy && vrStudy.error')}")
                time.sleep(0.05)
            load_s = time.perf_counter() - t
            time.sleep(1.0)                                              # shaders compiled, stream flowing
            a = page.evaluate("({...vrStudy.perf})")
            t = time.monotonic()
            time.sleep(seconds)
            z = page.evaluate("({...vrStudy.perf})")
            wall = time.monotonic() - t
            micro = page.evaluate(MICRO)
    finally:
        stop.set()
        sender.join(2)
        pub.close()
    frames = z["frames"] - a["frames"]
    return {"payload_bytes": len(model.blob) + len(model.meta_json()), "build_s": round(build_s, 2),
            "page_load_s": round(load_s, 2), "correctives": model.meta.get("pose_correctives"),
            "frames_per_s": round(frames / wall, 1),
            "pose_ms_per_frame": round((z["poseMs"] - a["poseMs"]) / max(frames, 1), 3),
            "render_ms_per_frame": round((z["renderMs"] - a["renderMs"]) / max(frames, 1), 3),
            "pose_feature_us": round(micro["featureUs"], 2), "uniform_upload_us": round(micro["uploadUs"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 s per model (< 60 s in all)")
    ap.add_argument("--seconds", type=float, help="measured seconds per model (default 8 quick, 20 otherwise)")
    args = ap.parse_args()
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    from vr_study.body import load_body_model

    body = load_body_model()
    out = {"benchmark": "webxr_correctives", "rate_hz": RATE_HZ, "quick": args.quick, "seconds": seconds,
           "machine": f"{platform.machine()} {multiprocessing.cpu_count()} cores",
           "browser": "chromium headless, SwiftShader WebGL, 640x480"}
    for name, model in (("default", body), ("real_layout", with_dense_posedirs(body))):
        with tempfile.TemporaryDirectory() as tmp:
            out[name] = r = run_model(model, seconds, Path(tmp))
        print(f"{name}: {r['payload_bytes'] / 1e6:.2f} MB, {r['frames_per_s']} frames/s, setPose "
              f"{r['pose_ms_per_frame']} ms/frame, render() {r['render_ms_per_frame']} ms/frame, pose feature "
              f"{r['pose_feature_us']} us, uniform upload {r['uniform_upload_us']} us")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
