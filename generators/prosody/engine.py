"""The prosody generator's engine: audio samples in, SMPL-X frames out, causally.

One engine serves both modes. Offline generation feeds the whole utterance and flushes;
streaming feeds chunks as they arrive. Frame i is emitted once the audio up to
t_i + lookahead_s (+ half an analysis window, 32 ms) has arrived, so a frame never depends
on later audio and both modes give the same motion.

Per frame, in order: speech features (:mod:`.features`) -> adaptive levels (an AGC-like
running peak, so no whole-file normalisation is needed) -> onset picking with one frame of
look-ahead -> gesture planning on onsets (beat strokes whose apex lands on the onset,
head nods/tilts and brow accents on stressed syllables) -> idle behaviour (breathing,
weight-shift sway, blinks, gaze shifts) -> joint targets clamped to the joint-limit
table -> a critically damped filter per body part (two cascaded one-pole filters with a
non-negative impulse response: no overshoot, so clamped targets stay within limits, and
velocity/acceleration stay bounded: no popping). Legs, pelvis and translation stay fixed,
so the feet never slide.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter, lfilter_zi

from vr_study.errors import InputError
from vr_study.motion import NUM_JOINTS, MotionClip, MotionMeta
from vr_study.rotations import axis_angle_to_matrix, matrix_to_axis_angle

from .face import control_indices
from .features import SAMPLE_RATE_HZ, FeatureExtractor
from .limits import limit_table
from .style import STYLES, Style, Traits

CHANNELS = ("stroke_l", "stroke_r", "nod", "tilt", "brow", "blink")
_CH = {c: i for i, c in enumerate(CHANNELS)}
REST_SHOULDER_Z_RAD = 1.38  # arms down from SMPL-X's T-pose (left -z, right +z): hands beside the hips
DEFAULT_LOOKAHEAD_S = 0.3
_HIST_KEYS = ("energy", "gate", "fn", "f0rel", "centroid")


class ProsodyEngine:
    """Causal speech-to-motion engine (see module docstring).

    ``emotion``: a key of :data:`STYLES`; ``seed``: picks the speaker traits and the
    random choices; ``fps``: output frame rate in Hz; ``lookahead_s``: how far (seconds)
    the engine looks past the frame it emits (>= 2 frames). Audio must be mono float32 at
    16 kHz.
    """

    def __init__(self, emotion: str = "neutral", seed: int = 0, fps: float = 30.0,
                 lookahead_s: float = DEFAULT_LOOKAHEAD_S, num_expression: int = 100):
        if emotion not in STYLES:
            raise InputError(None, "emotion", f"'{emotion}' is not known to the prosody generator",
                             f"use one of {', '.join(STYLES)}")
        if int(seed) < 0:
            raise InputError(None, "seed", f"is {seed}", "give a seed of 0 or more")
        self.emotion = emotion
        self.style: Style = STYLES[emotion]
        self.traits = Traits.from_seed(seed)
        self.seed = int(seed)
        self.fps = float(fps)
        self.lookahead = max(2, int(math.ceil(lookahead_s * self.fps - 1e-9)))
        self.num_expression = int(num_expression)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xBEA7]))
        self.features = FeatureExtractor(self.fps, SAMPLE_RATE_HZ)
        self.face = {k: v for k, v in control_indices().items() if v < self.num_expression}
        self.lo, self.hi = limit_table()

        self.audio = np.zeros(0, np.float32)  # samples from index audio_start
        self.audio_start = 0
        self.n_samples = 0
        self.n_feat = 0   # frames with features
        self.n_out = 0    # frames emitted
        self.hist_base = 0
        self.hist: dict[str, list[float]] = {k: [] for k in _HIST_KEYS}
        self.plan = np.zeros((len(CHANNELS), 64), np.float64)  # column 0 = frame n_out

        self.level_ref_db = -20.0
        self.flux_ref = 1.0
        self.log_f0_mean: float | None = None
        self.last_onset = -10 ** 6
        self.last_stroke = -10 ** 6
        self.last_nod = -10 ** 6
        self.next_blink = int(self.rng.uniform(0.5, 2.0) * self.fps)
        self.next_gaze = int(self.rng.uniform(*self.style.gaze_interval_s) * self.fps)
        self.gaze_events: list[tuple[int, float, float]] = []
        self.gaze_now = (0.0, 0.0)
        self._filters: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        self._act_zi: np.ndarray | None = None
        self.onsets: list[int] = []  # frames where onsets were picked (for inspection/tests)
        self.finished = False

    # ------------------------------------------------------------------ public
    @property
    def latency_s(self) -> float:
        """Algorithmic latency: how far past a frame's time the engine needs audio (seconds)."""
        return self.lookahead / self.fps + (self.features.window.shape[0] // 2) / SAMPLE_RATE_HZ

    def feed(self, samples: np.ndarray) -> MotionClip:
        """Add mono 16 kHz float32 samples; return the frames that became ready (maybe 0)."""
        if self.finished:
            raise InputError(None, "stream", "was already flushed", "start a new stream")
        x = np.asarray(samples, np.float32).reshape(-1)
        if x.size and not np.all(np.isfinite(x)):
            raise InputError(None, "audio chunk", "contains NaN or Inf samples", "send finite samples in [-1, 1]")
        self.audio = np.concatenate([self.audio, x])
        self.n_samples += x.size
        last = self._last_computable_frame()
        return self._advance(last, last - self.lookahead)

    def flush(self, num_frames: int | None = None) -> MotionClip:
        """End of speech: emit every remaining frame up to ``num_frames`` in total
        (default: as many frames as the audio lasts)."""
        if num_frames is None:
            num_frames = int(round(self.n_samples / SAMPLE_RATE_HZ * self.fps))
        self.finished = True
        return self._advance(num_frames - 1 + self.lookahead, num_frames - 1)

    # ------------------------------------------------------------------ steps
    def _last_computable_frame(self) -> int:
        # largest i with centre(i) + W/2 <= n_samples
        half = self.features.window.shape[0] // 2
        i = int(math.floor((self.n_samples - half) * self.fps / SAMPLE_RATE_HZ)) + 1
        while i >= 0 and self.features.samples_needed(i) > self.n_samples:
            i -= 1
        while self.features.samples_needed(i + 1) <= self.n_samples:
            i += 1
        return i

    def _advance(self, last_feature_frame: int, last_emit_frame: int) -> MotionClip:
        if last_feature_frame >= self.n_feat:
            frames = np.arange(self.n_feat, last_feature_frame + 1)
            f = self.features.compute(self.audio, self.audio_start, frames)
            for n, i in enumerate(frames):
                self._step(int(i), float(f.level_db[n]), float(f.flux[n]), float(f.f0_hz[n]),
                           float(f.centroid_hz[n]))
            self.n_feat = last_feature_frame + 1
            keep_from = int(self.features.centre_sample(self.n_feat)) - self.features.window.shape[0] // 2
            drop = max(0, min(keep_from - self.audio_start, self.audio.shape[0]))
            self.audio = self.audio[drop:]
            self.audio_start += drop
        return self._emit(max(self.n_out, min(last_emit_frame + 1, self.n_feat)))

    def _hist(self, key: str, frame: int) -> float:
        idx = frame - self.hist_base
        vals = self.hist[key]
        return vals[idx] if 0 <= idx < len(vals) else 0.0

    def _step(self, i: int, level_db: float, flux: float, f0_hz: float, centroid_hz: float) -> None:
        """Per-frame sequential update: levels, onset picking for frame i-1, planning."""
        fps = self.fps
        self.level_ref_db = max(level_db, self.level_ref_db - 6.0 / fps, -60.0)
        energy = min(max((level_db - (self.level_ref_db - 35.0)) / 35.0, 0.0), 1.0)
        gate = 1.0 if level_db > max(self.level_ref_db - 28.0, -55.0) else 0.0
        self.flux_ref = max(flux, self.flux_ref * 0.99, 0.5)
        fn = flux / self.flux_ref
        f0rel = 0.0
        if f0_hz > 0 and gate:
            lf = math.log2(f0_hz)
            self.log_f0_mean = lf if self.log_f0_mean is None else self.log_f0_mean + 0.05 * (lf - self.log_f0_mean)
            f0rel = lf - self.log_f0_mean
        for key, v in zip(_HIST_KEYS, (energy, gate, fn, f0rel, centroid_hz)):
            self.hist[key].append(v)

        k = i - 1
        if k >= 0:
            fns = self.hist["fn"]
            kk = k - self.hist_base  # i's index is kk + 1, the last one
            fk = fns[kk]
            around = fns[max(0, kk - 3):kk + 2]
            avg = fns[max(0, kk - 6):kk + 2]
            if (fk > 0.2 and fk >= max(around) and fk >= sum(avg) / len(avg) + 0.08
                    and (self._hist("gate", k) or self._hist("gate", i)) and k - self.last_onset >= 3):
                self._on_onset(k, fk, max(self._hist("energy", k), energy),
                               max(self._hist("f0rel", k), f0rel))

        st = self.style
        if i >= self.next_blink:
            self._bump("blink", i + 2, 2, 3, 1.0)
            self.next_blink = i + int(self.rng.uniform(*st.blink_interval_s) * fps)
        if i >= self.next_gaze:
            if self.rng.random() < 0.45:
                yaw, pitch = 0.0, 0.0  # back to the listener
            else:
                yaw = float(self.rng.uniform(-1, 1) * st.gaze_range_rad)
                pitch = float(self.rng.uniform(-0.4, 0.3) * st.gaze_range_rad)
            self.gaze_events.append((i, yaw, pitch))
            self.next_gaze = i + int(self.rng.uniform(*st.gaze_interval_s) * fps)

    def _on_onset(self, k: int, strength: float, energy: float, f0rel: float) -> None:
        st, tr, rng, fps = self.style, self.traits, self.rng, self.fps
        self.onsets.append(k)
        self.last_onset = k
        # the critically damped arm filter delays a peak by about 2 time constants: plan it earlier
        apex = k - int(round(2 * st.arm_smoothing_s * fps))
        rise = max(1, int(round(st.stroke_rise_s * fps)))
        fall = max(2, int(round(st.stroke_fall_s * fps)))
        if strength > 0.3 and k - self.last_stroke >= st.stroke_min_interval_s * tr.interval_scale * fps:
            amp = st.gesture_amp * tr.amp_scale * (0.55 + 0.45 * min(strength / 1.5, 1.0)) * rng.uniform(0.8, 1.2)
            if rng.random() < st.both_hands_prob * min(strength, 1.0):
                self._bump("stroke_l", apex, rise, fall, 0.85 * amp * rng.uniform(0.85, 1.0))
                self._bump("stroke_r", apex, rise, fall, 0.85 * amp * rng.uniform(0.85, 1.0))
            else:
                side = "stroke_r" if rng.random() < tr.right_handed else "stroke_l"
                self._bump(side, apex, rise, fall, amp)
            self.last_stroke = k
        stressed = strength > 0.45 and (f0rel > 0.06 or energy > 0.8)
        if stressed and k - self.last_nod >= st.nod_min_interval_s * fps:
            self._bump("nod", apex, rise + 1, fall + 3, st.nod_amp_rad * rng.uniform(0.7, 1.2))
            if rng.random() < 0.4:
                sign = 1.0 if rng.random() < 0.5 + 0.5 * tr.nod_sign_bias else -1.0
                self._bump("tilt", apex, rise + 2, fall + 6, sign * 0.06 * rng.uniform(0.6, 1.2))
            if rng.random() < 0.6:
                self._bump("brow", apex, rise + 1, fall + 4, st.brow_accent * rng.uniform(0.6, 1.0))
            self.last_nod = k

    def _bump(self, channel: str, apex: int, rise: int, fall: int, amp: float) -> None:
        """Add a raised-cosine bump peaking at frame ``apex`` to a plan channel; frames
        already emitted are left out (the look-ahead was too short for them)."""
        start, end = apex - rise, apex + fall
        need = end - self.n_out + 1
        if need > self.plan.shape[1]:
            grow = max(need, 2 * self.plan.shape[1])
            self.plan = np.pad(self.plan, ((0, 0), (0, grow - self.plan.shape[1])))
        frames = np.arange(max(start, self.n_out), end + 1)
        if frames.size == 0:
            return
        tau = frames - apex
        shape = np.where(tau < 0, 0.5 * (1 - np.cos(np.pi * (tau + rise) / rise)),
                         0.5 * (1 + np.cos(np.pi * np.minimum(tau, fall) / fall)))
        self.plan[_CH[channel], frames - self.n_out] += amp * shape

    # ------------------------------------------------------------------ output
    def _smooth(self, group: str, x: np.ndarray, tau_s: float) -> np.ndarray:
        """Critically damped (two cascaded one-pole) filter along time, state kept per group."""
        a = math.exp(-1.0 / (max(tau_s, 1e-4) * self.fps))
        b_coef = np.array([(1 - a) ** 2])
        a_coef = np.array([1.0, -2 * a, a * a])
        if group not in self._filters or self._filters[group][2] is None:
            zi = lfilter_zi(b_coef, a_coef)[:, None] * x[:1]
        else:
            zi = self._filters[group][2]
        y, zf = lfilter(b_coef, a_coef, x, axis=0, zi=zi)
        self._filters[group] = (b_coef, a_coef, zf)
        return y

    def _emit(self, end: int) -> MotionClip:
        start = self.n_out
        n = max(0, end - start)
        if n == 0:
            return MotionClip.zeros(0, self.fps, num_expression=self.num_expression, method="prosody")
        st, tr, fps = self.style, self.traits, self.fps
        frames = np.arange(start, end)
        t = frames / fps
        a, b = start - self.hist_base, end - self.hist_base  # emitted frames always have features
        h = {k: np.asarray(self.hist[k][a:b], np.float64) for k in _HIST_KEYS}
        if self.plan.shape[1] < n:
            self.plan = np.pad(self.plan, ((0, 0), (0, n - self.plan.shape[1])))
        plan = self.plan[:, :n]
        stroke_l = np.clip(plan[_CH["stroke_l"]], 0, 1.4)
        stroke_r = np.clip(plan[_CH["stroke_r"]], 0, 1.4)

        # speaking activity: slow one-pole on the speech gate
        a_act = math.exp(-1.0 / (0.35 * fps))
        if self._act_zi is None:
            self._act_zi = np.zeros(1)  # start at rest: arms down, then rise with speech
        activity, self._act_zi = lfilter([1 - a_act], [1, -a_act], h["gate"], zi=self._act_zi)

        drift = np.sin(2 * np.pi * tr.drift_freq_hz[None, :] * t[:, None] + tr.drift_phase[None, :])  # (n,4)
        breath = np.sin(2 * np.pi * st.breath_rate_hz * t + tr.breath_phase)
        sway = np.sin(2 * np.pi * tr.sway_freq_hz * t + tr.sway_phase)

        P = np.zeros((n, NUM_JOINTS, 3))
        # trunk: weight-shift sway, breathing, lean in while speaking
        P[:, 3, 2] = st.sway_amp_rad * sway
        P[:, 3, 1] = 0.3 * st.sway_amp_rad * drift[:, 3]
        P[:, 6, 0] = 0.03 * activity
        P[:, 9, 0] = -0.015 * breath
        # head: bias, nods, pitch following, slow looking around
        pitch = st.head_pitch_rad + plan[_CH["nod"]] - st.pitch_follow_rad * np.clip(h["f0rel"], -1, 1) * activity \
            + 0.03 * drift[:, 2]
        yaw = 0.08 * drift[:, 2] * (0.5 + activity) + 0.04 * drift[:, 3]
        roll = plan[_CH["tilt"]] + 0.025 * drift[:, 1]
        hp = np.stack([pitch, yaw, roll], axis=1)
        P[:, 12] = 0.4 * hp
        P[:, 15] = 0.6 * hp
        # jaw from the energy envelope while speaking
        jaw = st.jaw_gain * 0.16 * np.power(h["energy"], 0.7) * h["gate"]
        P[:, 22, 0] = jaw
        # gaze (saccades between targets, same for both eyes)
        gaze = np.zeros((n, 2))
        for r, j in enumerate(frames):
            while self.gaze_events and self.gaze_events[0][0] <= j:
                _, gy, gp = self.gaze_events.pop(0)
                self.gaze_now = (gy, gp)
            gaze[r] = self.gaze_now
        P[:, 23, 0] = P[:, 24, 0] = gaze[:, 1]
        P[:, 23, 1] = P[:, 24, 1] = gaze[:, 0]
        # arms: rest beside the hips, lifted into gesture space while speaking, beat strokes
        for s, sh, el, wr, collar, stroke, space_k, d in (
                (1.0, 16, 18, 20, 13, stroke_l, tr.space_scale[0], drift[:, 0]),
                (-1.0, 17, 19, 21, 14, stroke_r, tr.space_scale[1], drift[:, 1])):
            space = activity * space_k * (1.0 + 0.15 * d)
            flex = st.space_shoulder_rad * space + 0.12 * stroke + 0.05 + 0.02 * d
            z = s * (-REST_SHOULDER_Z_RAD + st.open_rad * space + 0.03 * stroke)
            zero = np.zeros(n)
            R = axis_angle_to_matrix(np.stack([-flex, zero, zero], 1)) @ axis_angle_to_matrix(np.stack([zero, zero, z], 1))
            P[:, sh] = matrix_to_axis_angle(R)
            P[:, el, 1] = -s * (0.20 + st.space_elbow_rad * space + 0.45 * stroke + 0.05 * d)
            P[:, wr, 0] = 0.08 * d
            P[:, wr, 2] = s * (0.10 * space - 0.12 * stroke)
            P[:, collar, 2] = s * (0.012 * breath + 0.04 * stroke)
            curl = st.hand_curl_rad * (1.0 - 0.45 * np.clip(stroke, 0, 1)) + 0.04 * d
            base = 25 if s > 0 else 40
            for finger in range(4):
                w = 1.0 + 0.15 * finger  # pinky side curls a little more
                for seg in range(3):
                    P[:, base + 3 * finger + seg, 2] = -s * curl * w * (1.0 if seg else 0.7)
            P[:, base + 12, 1] = s * 0.15
            P[:, base + 13, 2] = -s * 0.5 * curl
        P = np.clip(P, self.lo, self.hi)

        # face controls -> expression coefficients
        E = np.zeros((n, self.num_expression))
        controls = {
            "mouth_open": 0.5 * jaw / 0.16,  # the jaw rotation does most of the opening
            "smile": st.smile * (0.8 + 0.2 * activity),
            "cheek_raise": st.cheek * (0.7 + 0.3 * activity),
            "brow_raise": st.brow_base * activity + plan[_CH["brow"]],
            "blink": np.clip(plan[_CH["blink"]], 0, 1),
            "mouth_wide": h["energy"] * np.clip((h["centroid"] - 1800.0) / 1500.0, -1, 1) * h["gate"],
            "mouth_round": 0.6 * h["energy"] * np.clip((1200.0 - h["centroid"]) / 800.0, 0, 1) * h["gate"],
        }
        for name, idx in self.face.items():
            E[:, idx] = controls[name]

        # smoothing per body part
        flat = P.reshape(n, -1)
        groups = {
            "arms": ([13, 14, 16, 17, 18, 19, 20, 21] + list(range(25, 55)), st.arm_smoothing_s),
            "trunk": ([3, 6, 9, 12, 15], st.head_smoothing_s),
            "face": ([22], 0.02),
            "eyes": ([23, 24], 0.012),
        }
        out = flat.copy()
        for g, (joints, tau) in groups.items():
            cols = np.concatenate([np.arange(3 * j, 3 * j + 3) for j in joints])
            out[:, cols] = self._smooth(g, flat[:, cols], tau)
        E = self._smooth("expression", E, 0.02)
        full = np.clip(out.reshape(n, NUM_JOINTS, 3), self.lo, self.hi).astype(np.float32)

        # advance
        self.plan = np.concatenate([self.plan[:, n:], np.zeros((len(CHANNELS), n))], axis=1)
        self.n_out = end
        drop = max(0, (self.n_out - 16) - self.hist_base)
        if drop:
            for k in _HIST_KEYS:
                del self.hist[k][:drop]
            self.hist_base += drop

        clip = MotionClip.from_poses(full.reshape(n, -1), np.zeros((n, 3), np.float32), E.astype(np.float32),
                                     np.zeros(300, np.float32), fps, "neutral",
                                     MotionMeta(method="prosody", emotion=self.emotion, seed=self.seed,
                                                audio_offset_s=start / fps))
        return clip
