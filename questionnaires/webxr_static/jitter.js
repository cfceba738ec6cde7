// Jitter buffer of one avatar: a port of vr_study/stream/jitter.py (same results for the same
// inputs; tests/test_webxr_jitter.py runs both). Rotations (axis-angle, radians) are slerped
// through unit quaternions (w, x, y, z) as vr_study/rotations.py does, translation (m) and
// expression interpolated linearly. Past the newest pose the buffer holds it (no
// extrapolation) and reports its age (s). Counts gaps, late poses, duplicates, restarts.
// Pure module: no DOM, no three.js (node imports it too).

const EPS = 1e-8;

export function axisAngleToQuat(x, y, z) {
  const angle = Math.hypot(x, y, z);
  const half = 0.5 * angle;
  const scale = angle > EPS ? Math.sin(half) / Math.max(angle, EPS) : 0.5 - (angle * angle) / 48.0;
  return [Math.cos(half), x * scale, y * scale, z * scale];
}

export function quatToAxisAngle(q) {
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  let w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  if (w < 0) { w = -w; x = -x; y = -y; z = -z; }          // shortest rotation
  w = Math.min(Math.max(w, -1), 1);
  const sinHalf = Math.hypot(x, y, z);
  const angle = 2.0 * Math.atan2(sinHalf, w);
  const scale = sinHalf > EPS ? angle / Math.max(sinHalf, EPS) : 2.0 / Math.max(w, EPS);
  return [x * scale, y * scale, z * scale];
}

export function quatSlerp(q0, q1, t) {
  let dot = q0[0] * q1[0] + q0[1] * q1[1] + q0[2] * q1[2] + q0[3] * q1[3];
  let b = q1;
  if (dot < 0) { b = [-q1[0], -q1[1], -q1[2], -q1[3]]; }
  dot = Math.abs(dot);
  const theta = Math.acos(Math.min(Math.max(dot, -1), 1));
  const s = Math.sin(theta);
  const near = s < 1e-6;
  const w0 = near ? 1 - t : Math.sin((1 - t) * theta) / s;
  const w1 = near ? t : Math.sin(t * theta) / s;
  const out = [0, 1, 2, 3].map((i) => w0 * q0[i] + w1 * b[i]);
  const n = Math.hypot(out[0], out[1], out[2], out[3]);
  return out.map((v) => v / n);
}

/** Slerp two flat arrays of axis-angle rotations (3 numbers each) by weight w; Float32Array. */
export function slerpAxisAngle(a, b, w) {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i += 3) {
    const r = quatToAxisAngle(quatSlerp(axisAngleToQuat(a[i], a[i + 1], a[i + 2]),
                                        axisAngleToQuat(b[i], b[i + 1], b[i + 2]), w));
    out[i] = r[0]; out[i + 1] = r[1]; out[i + 2] = r[2];
  }
  return out;
}

function lerp(a, b, w) {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.fround((1 - w) * a[i] + w * b[i]);
  return out;
}

/** First index whose value is > x (Python's bisect.bisect_right). */
function bisectRight(arr, x) {
  let lo = 0, hi = arr.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (x < arr[mid]) hi = mid; else lo = mid + 1; }
  return lo;
}

export class JitterBuffer {
  constructor(capacity = 256) {
    this.capacity = capacity;
    this.stats = { received: 0, gaps: 0, late: 0, duplicates: 0, restarts: 0 };
    this.times = [];
    this.samples = [];
    this.epoch = null;
    this.lastSeq = null;
    this.lastDisplay = -Infinity;
  }

  /** header: {epoch, seq}; sample: {fullPose (165,), transl (3,), expression (E,), time_s, seq}. */
  push(header, sample) {
    const st = this.stats;
    if (this.epoch !== null && header.epoch !== this.epoch) {
      st.restarts += 1;
      this.times = []; this.samples = []; this.lastSeq = null;
    }
    this.epoch = header.epoch;
    if (this.lastSeq !== null) {
      if (header.seq <= this.lastSeq) { st.duplicates += 1; return; }
      st.gaps += header.seq - this.lastSeq - 1;
    }
    this.lastSeq = header.seq;
    st.received += 1;
    if (sample.time_s < this.lastDisplay) st.late += 1;
    const i = bisectRight(this.times, sample.time_s);
    this.times.splice(i, 0, sample.time_s);
    this.samples.splice(i, 0, sample);
    if (this.times.length > this.capacity) { this.times.shift(); this.samples.shift(); }
  }

  get length() { return this.times.length; }
  get newestTime() { return this.times.length ? this.times[this.times.length - 1] : null; }

  /** The pose to show at displayTime (s, shared clock) or null; fields as push() plus age_s. */
  poseAt(displayTime) {
    const times = this.times;
    if (!times.length) return null;
    this.lastDisplay = Math.max(this.lastDisplay, displayTime);
    if (displayTime >= times[times.length - 1]) {
      const s = this.samples[this.samples.length - 1];
      return { ...s, age_s: displayTime - s.time_s };
    }
    if (displayTime <= times[0]) return { ...this.samples[0], age_s: 0 };
    const j = bisectRight(times, displayTime);
    const a = this.samples[j - 1], b = this.samples[j];
    const w = (displayTime - a.time_s) / (b.time_s - a.time_s);
    const fullPose = slerpAxisAngle(a.fullPose, b.fullPose, w);
    const transl = lerp(a.transl, b.transl, w);
    const expression = a.expression.length === b.expression.length ? lerp(a.expression, b.expression, w)
      : b.expression;
    if (j - 1 > 0) { times.splice(0, j - 1); this.samples.splice(0, j - 1); }
    return { fullPose, transl, expression, time_s: displayTime, seq: a.seq, age_s: 0 };
  }
}
