// Parses one WebSocket message of the pose-stream bridge (vr_study/stream/wsbridge.py):
//   u8 topic length | topic (UTF-8) | header | payload
// header and payload are the pose stream's own bytes (docs/stream.md, vr_study/stream/protocol.py):
//   pose  "VRPS": <4sHHHxxIQdf> magic, version, layout, E, epoch, seq, time_s, fps (36 bytes),
//                 payload float32 LE: full pose 55x3 (rad), transl 3 (m), expression E
//   cue   "VRAC": <4sHxxIQdd> magic, version, epoch, cue id, start_s, offset_s (36 bytes),
//                 payload JSON {"audio": path, "library": path or null}
// Returns null for anything off-protocol (the page counts those), never throws.
export const VERSION = 1;
export const LAYOUT_SMPLX = 1;
export const POSE_HEADER_SIZE = 36;
export const CUE_HEADER_SIZE = 36;
export const POSE_FLOATS = 165;
const decoder = new TextDecoder("utf-8", { fatal: true });

function magic(view, at) {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

export function parseMessage(buffer) {
  try {
    const view = new DataView(buffer);
    const n = view.getUint8(0);
    const avatar = decoder.decode(new Uint8Array(buffer, 1, n));
    const h = 1 + n;
    const kind = magic(view, h);
    if (kind === "VRPS") {
      if (view.getUint16(h + 4, true) !== VERSION || view.getUint16(h + 6, true) !== LAYOUT_SMPLX) return null;
      const E = view.getUint16(h + 8, true);
      const epoch = view.getUint32(h + 12, true);
      const seq = Number(view.getBigUint64(h + 16, true));
      const time_s = view.getFloat64(h + 24, true);
      const fps = view.getFloat32(h + 32, true);
      const p = h + POSE_HEADER_SIZE;
      if (buffer.byteLength - p !== (POSE_FLOATS + 3 + E) * 4 || !Number.isFinite(time_s) || !(fps > 0)) return null;
      const data = new Float32Array(buffer.slice(p));        // copy: the payload is not 4-aligned
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return null;
      return {
        kind: "pose", avatar, header: { epoch, seq, time_s, fps, numExpression: E },
        sample: { fullPose: data.subarray(0, POSE_FLOATS), transl: data.subarray(POSE_FLOATS, POSE_FLOATS + 3),
                  expression: data.subarray(POSE_FLOATS + 3), time_s, seq },
      };
    }
    if (kind === "VRAC") {
      if (view.getUint16(h + 4, true) !== VERSION) return null;
      const epoch = view.getUint32(h + 8, true);
      const cueId = Number(view.getBigUint64(h + 12, true));
      const start_s = view.getFloat64(h + 20, true);
      const offset_s = view.getFloat64(h + 28, true);
      const json = JSON.parse(decoder.decode(new Uint8Array(buffer, h + CUE_HEADER_SIZE)));
      if (typeof json.audio !== "string" || !Number.isFinite(start_s) || !Number.isFinite(offset_s)) return null;
      return { kind: "cue", avatar, cue: { epoch, cueId, start_s, offset_s, audio: json.audio,
                                           library: typeof json.library === "string" ? json.library : null } };
    }
  } catch (e) {
    return null;
  }
  return null;
}
