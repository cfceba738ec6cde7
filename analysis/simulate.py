"""A simulated study in the tidy export format, with the paper's findings built in.

SIMULATED DATA, for demos, tests and benchmarks only. The design replicates Chhatre et al.
(2025): 4 methods (EMAGE, TalkSHOW, AMUSE+FaceFormer, reconstruction) x 2 emotions (happy,
neutral) x 2 clips (utterances), all within subjects; after each clip five 7-point rating
items and one emotion-recognition question (4 options, chance = .25). Built-in effects:

* emotion-aware AMUSE+FaceFormer and the reconstruction are recognised more often;
* happy is rated more realistic (arousal realism) and more natural than neutral;
* generated faces are rated worse than the reconstruction's (face quality);
* enjoyment and interaction quality are low for all methods.

Random effects: participant intercepts, participant x method slopes, clip intercepts, and
residual noise on a latent scale that is rounded and clipped to 1..7.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

METHODS = ("EMAGE", "TalkSHOW", "AMUSE+FaceFormer", "reconstruction")
EMOTIONS = ("happy", "neutral")
UTTERANCES = ("u01", "u02")
RECOGNITION_OPTIONS = ("happy", "neutral", "sad", "angry")
SIMULATED_STUDY_ID = "SIMULATED-chhatre2025-replication"

#: item -> (instrument subscale, intercept, method effects, emotion effects (happy, neutral))
ITEMS = {
    "arousal_realism": ("realism", 4.0, (0.0, -0.3, 0.4, 0.9), (0.45, -0.45)),
    "naturalness": ("realism", 4.1, (0.1, -0.4, 0.3, 1.0), (0.35, -0.35)),
    "face_quality": ("realism", 3.6, (-0.3, -0.5, -0.2, 1.6), (0.1, -0.1)),
    "enjoyment": ("engagement", 2.8, (0.0, -0.1, 0.1, 0.2), (0.15, -0.15)),
    "interaction_quality": ("engagement", 2.6, (0.0, -0.1, 0.1, 0.2), (0.1, -0.1)),
}
#: P(correct recognition) by method for (happy, neutral)
RECOGNITION_P = {"EMAGE": (0.45, 0.55), "TalkSHOW": (0.40, 0.50),
                 "AMUSE+FaceFormer": (0.72, 0.66), "reconstruction": (0.86, 0.78)}

EXPORT_COLUMNS = ("study_id", "participant_id", "session_id", "trial_index", "block",
                  "trial_kind", "position_in_block", "method", "emotion", "clip_id",
                  "utterance", "seed", "instrument", "item", "subscale", "value",
                  "value_scored", "response_text", "correct", "scale_min", "scale_max",
                  "reversed", "answered_at", "rt_s")


def clip_id(method: str, emotion: str, utterance: str) -> str:
    """Stable clip identifier used by the simulated study and metrics."""
    slug = method.lower().replace("+", "_")
    return f"{slug}_{emotion}_{utterance}"


def _clip_effects(seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed + 7919)
    return {clip_id(m, e, u): float(rng.normal(0, 0.3))
            for m in METHODS for e in EMOTIONS for u in UTTERANCES}


def simulate_study(participants: int = 48, seed: int = 0) -> pd.DataFrame:
    """Simulated tidy export (one row per item response), labelled SIMULATED in study_id.

    Args:
        participants: number of participants (each sees all 16 clips).
        seed: random seed; the same seed gives the same data.
    """
    if participants < 2:
        raise ValueError("participants must be at least 2")
    rng = np.random.default_rng(seed)
    clip_fx = _clip_effects(seed)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    records = []
    for p in range(participants):
        pid = f"P{p + 1:03d}"
        subj = rng.normal(0, 0.6)
        subj_method = dict(zip(METHODS, rng.normal(0, 0.3, len(METHODS))))
        subj_recog = rng.normal(0, 0.5)
        # balanced Latin square of methods (4 x 4), blocks = methods
        shift = p % len(METHODS)
        order = [METHODS[(shift + k) % len(METHODS)] for k in range(len(METHODS))]
        if (p // len(METHODS)) % 2:
            order = order[::-1]
        trial = 0
        clock = t0 + timedelta(hours=p)
        for b, m in enumerate(order, start=1):
            inner = [(e, u) for e in EMOTIONS for u in UTTERANCES]
            rng.shuffle(inner)
            for pos, (e, u) in enumerate(inner, start=1):
                trial += 1
                cid = clip_id(m, e, u)
                base = dict(study_id=SIMULATED_STUDY_ID, participant_id=pid,
                            session_id=f"S{p + 1:03d}", trial_index=trial, block=b,
                            trial_kind="stimulus", position_in_block=pos, method=m,
                            emotion=e, clip_id=cid, utterance=u, seed=0)
                clock += timedelta(seconds=25)
                mi, ei = METHODS.index(m), EMOTIONS.index(e)
                for item, (sub, icpt, mfx, efx) in ITEMS.items():
                    latent = (icpt + mfx[mi] + efx[ei] + subj + subj_method[m]
                              + clip_fx[cid] + rng.normal(0, 1.0))
                    v = int(np.clip(np.rint(latent), 1, 7))
                    rt = float(np.round(rng.lognormal(1.2, 0.35), 3))
                    clock += timedelta(seconds=rt)
                    records.append({**base, "instrument": "animation_rating", "item": item,
                                    "subscale": sub, "value": v, "value_scored": v,
                                    "response_text": "", "correct": "", "scale_min": 1,
                                    "scale_max": 7, "reversed": 0,
                                    "answered_at": clock.isoformat(), "rt_s": rt})
                pc = RECOGNITION_P[m][ei]
                logit = np.log(pc / (1 - pc)) + subj_recog
                ok = rng.random() < 1 / (1 + np.exp(-logit))
                if ok:
                    answer = e
                else:
                    wrong = [o for o in RECOGNITION_OPTIONS if o != e]
                    w = np.array([3.0 if o in EMOTIONS else 1.0 for o in wrong])
                    answer = wrong[rng.choice(len(wrong), p=w / w.sum())]
                rt = float(np.round(rng.lognormal(1.0, 0.3), 3))
                clock += timedelta(seconds=rt)
                records.append({**base, "instrument": "emotion_recognition",
                                "item": "perceived_emotion", "subscale": "",
                                "value": RECOGNITION_OPTIONS.index(answer) + 1,
                                "value_scored": RECOGNITION_OPTIONS.index(answer) + 1,
                                "response_text": answer, "correct": int(ok),
                                "scale_min": 1, "scale_max": len(RECOGNITION_OPTIONS),
                                "reversed": 0, "answered_at": clock.isoformat(), "rt_s": rt})
    return pd.DataFrame.from_records(records, columns=list(EXPORT_COLUMNS))


def simulate_metrics(seed: int = 0) -> pd.DataFrame:
    """Simulated per-clip objective metrics (the generators' metrics CSV columns).

    Related to the simulated ratings through the same clip effects, so that
    objective-vs-perceptual correlations show something. SIMULATED.
    """
    rng = np.random.default_rng(seed + 104729)
    clip_fx = _clip_effects(seed)
    rows = []
    for m in METHODS:
        mi = METHODS.index(m)
        for e in EMOTIONS:
            for u in UTTERANCES:
                cid = clip_id(m, e, u)
                quality = ITEMS["naturalness"][2][mi] + clip_fx[cid]
                rows.append({
                    "clip_id": cid, "method": m, "emotion": e, "utterance": u, "seed": 0,
                    "fps": 30.0, "duration_s": float(np.round(rng.uniform(6, 10), 2)),
                    "bc": float(np.clip(0.55 + 0.12 * quality + rng.normal(0, 0.04), 0, 1)),
                    "l1div": float(8 + 3 * (e == "happy") + rng.normal(0, 1.2)),
                    "jerk_mean": float(np.exp(0.8 - 0.5 * quality + rng.normal(0, 0.15))),
                    "accel_mean": float(np.exp(0.2 - 0.3 * quality + rng.normal(0, 0.15))),
                    "face_mse": float(np.exp(-4 - 0.8 * (m == "reconstruction")
                                             + rng.normal(0, 0.2))),
                    "face_lvd": float(np.exp(-3 - 0.6 * (m == "reconstruction")
                                             + rng.normal(0, 0.2))),
                })
    return pd.DataFrame(rows)
