"""Speed of the built-in prosody generator against real time.

Offline: seconds of speech generated per second of compute (after one warm-up run),
over the bundled utterances and a 60 s concatenation of them. Baseline: real time
(1 s of compute per 1 s of speech); target >= 100x.

Streaming: the speech is fed in chunks (20 ms and 100 ms); for every chunk that makes
frames ready, the time from the chunk's arrival (the feed call) until its first frame is
returned. Baseline: the 50 ms budget (target p99 <= 50 ms). The algorithmic latency
(look-ahead: how far behind the audio the frames are) is reported separately.

    .venv/bin/python benchmarks/prosody.py [--quick]

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))

import numpy as np  # noqa: E402

from generators.batch import read_utterance_list  # noqa: E402
from generators.prosody import ProsodyGenerator, ProsodyStream  # noqa: E402
from generators.speech import load_speech  # noqa: E402

SR = 16000


def offline(speech: list[np.ndarray], repeats: int) -> dict:
    gen = ProsodyGenerator()
    gen.generate_samples(speech[0], "happy", 0)  # warm-up (imports, filter banks)
    rows = {}
    for name, x in [("utterance", s) for s in speech] + [("long_60s", np.tile(np.concatenate(speech),
                                                                                 int(np.ceil(60 * SR / sum(map(len, speech))))))[:60 * SR]]:
        times = []
        for r in range(repeats):
            t0 = time.perf_counter()
            gen.generate_samples(x, "happy" if r % 2 else "neutral", r)
            times.append(time.perf_counter() - t0)
        rows.setdefault(name, []).append((len(x) / SR, float(np.median(times))))
    per_utt = [d / t for d, t in rows["utterance"]]
    long_d, long_t = rows["long_60s"][0]
    return {"utterance_x_realtime_median": float(np.median(per_utt)),
            "utterance_x_realtime_min": float(np.min(per_utt)),
            "utterance_ms_median": float(np.median([t for _, t in rows["utterance"]]) * 1000),
            "long_60s_x_realtime": long_d / long_t, "long_60s_s": long_t}


def streaming(speech: list[np.ndarray], chunk_ms: int, passes: int) -> dict:
    chunk = SR * chunk_ms // 1000
    lat = []
    stream = None
    for p in range(passes):
        for k, x in enumerate(speech):
            stream = ProsodyStream("happy" if (p + k) % 2 else "neutral", seed=p * 10 + k)
            for i in range(0, len(x), chunk):
                t0 = time.perf_counter()
                out = stream.feed(x[i:i + chunk])
                dt = time.perf_counter() - t0
                if out.num_frames:
                    lat.append(dt)
            stream.flush()
    lat_ms = np.array(lat) * 1000
    return {"chunks_with_frames": int(lat_ms.size), "first_frame_ms_p50": float(np.percentile(lat_ms, 50)),
            "first_frame_ms_p99": float(np.percentile(lat_ms, 99)), "first_frame_ms_max": float(lat_ms.max()),
            "algorithmic_latency_s": stream.latency_s if stream else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (< 60 s)")
    args = ap.parse_args()
    speech = [load_speech(u.wav).audio.samples for u in read_utterance_list(ROOT / "assets/speech/utterances.yaml")]
    repeats, passes = (5, 2) if args.quick else (20, 6)
    t0 = time.perf_counter()
    off = offline(speech, repeats)
    print(f"offline: {off['utterance_x_realtime_median']:.0f}x real time per utterance "
          f"({off['utterance_ms_median']:.1f} ms for ~5 s), 60 s speech {off['long_60s_x_realtime']:.0f}x")
    live = {}
    for ms in (20, 100):
        live[ms] = streaming(speech, ms, passes)
        print(f"stream {ms} ms chunks: first frame p50 {live[ms]['first_frame_ms_p50']:.2f} ms, "
              f"p99 {live[ms]['first_frame_ms_p99']:.2f} ms (algorithmic latency {live[ms]['algorithmic_latency_s']:.3f} s)")
    result = {
        "benchmark": "prosody",
        "ours_offline_x_realtime": round(off["utterance_x_realtime_median"], 1),
        "ours_offline_x_realtime_min": round(off["utterance_x_realtime_min"], 1),
        "ours_offline_60s_x_realtime": round(off["long_60s_x_realtime"], 1),
        "baseline_realtime_x": 1.0,
        "ratio_offline_vs_realtime": round(off["utterance_x_realtime_median"], 1),
        "target_offline_x_realtime": 100.0,
        "ours_stream_first_frame_ms_p99_20ms_chunks": round(live[20]["first_frame_ms_p99"], 2),
        "ours_stream_first_frame_ms_p99_100ms_chunks": round(live[100]["first_frame_ms_p99"], 2),
        "ours_stream_first_frame_ms_p50_20ms_chunks": round(live[20]["first_frame_ms_p50"], 2),
        "baseline_latency_budget_ms": 50.0,
        "ratio_budget_vs_p99_20ms": round(50.0 / live[20]["first_frame_ms_p99"], 1),
        "algorithmic_latency_s": round(live[20]["algorithmic_latency_s"], 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
