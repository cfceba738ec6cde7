// The study's SMPL-X avatar as a three.js SkinnedMesh, posed like the XR renderer's GPU skinning
// (vr_study/xr/gpuskin.py: top-4 weights, expression blend shapes before skinning, joint
// transforms with the expression's joint shift, the clip's translation relative to its first
// one, feet lifted onto the floor) and placed like vr_study/xr/avatar.py (an arc 1.3 m in
// front of the participant, facing them). Units: metres, radians (axis-angle).
import * as THREE from "/w/vendor/three/three.module.js";
import { axisAngleToQuat } from "./jitter.js";

const TYPES = { float32: Float32Array, uint16: Uint16Array, uint32: Uint32Array, uint8: Uint8Array };

/** Fetch /w/model.json and /w/model.bin (questionnaires/webxr_model.py). */
export async function loadModel() {
  const [metaR, binR] = await Promise.all([fetch("/w/model.json"), fetch("/w/model.bin")]);
  if (!metaR.ok || !binR.ok) throw new Error(`body model: HTTP ${metaR.status}/${binR.status}`);
  const meta = await metaR.json();
  const bin = await binR.arrayBuffer();
  const array = (name) => {
    const a = meta.arrays[name];
    return new TYPES[a.dtype](bin, a.offset, a.shape.reduce((x, y) => x * y, 1));
  };
  return { meta, array };
}

/** Port of conversational_placements: [{position: [x, 0, z], yaw}] for `count` avatars. */
export function placements(count, distance = 1.3, spacing = 0.45) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const a = (i - (count - 1) / 2) * spacing;
    const x = distance * Math.sin(a), z = -distance * Math.cos(a);
    out.push({ position: [x, 0, z], yaw: Math.atan2(-x, -z) });
  }
  return out;
}

export class Avatar {
  constructor(model) {
    const { meta, array } = model;
    this.meta = meta;
    const V = meta.vertices, E = meta.expression;
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(array("positions"), 3));
    g.setIndex(new THREE.BufferAttribute(array("index"), 1));
    g.setAttribute("skinIndex", new THREE.BufferAttribute(array("skin_index"), 4));
    g.setAttribute("skinWeight", new THREE.BufferAttribute(array("skin_weight"), 4));
    g.setAttribute("color", new THREE.BufferAttribute(array("colors"), 3, true));
    const rows = array("expr_vertices"), basis = array("expr_basis");
    const morphs = [];
    for (let e = 0; e < E; e++) {
      const d = new Float32Array(V * 3);
      for (let r = 0; r < rows.length; r++) {
        const v = rows[r], o = (r * E + e) * 3;
        d[3 * v] = basis[o]; d[3 * v + 1] = basis[o + 1]; d[3 * v + 2] = basis[o + 2];
      }
      morphs.push(new THREE.BufferAttribute(d, 3));
    }
    if (E) { g.morphAttributes.position = morphs; g.morphTargetsRelative = true; }
    g.computeVertexNormals();
    const material = new THREE.MeshStandardMaterial({ vertexColors: true, roughness: 0.85, metalness: 0 });
    this.bones = meta.parents.map(() => new THREE.Bone());
    meta.parents.forEach((p, j) => { if (p >= 0) this.bones[p].add(this.bones[j]); });
    this.inverses = meta.parents.map(() => new THREE.Matrix4());
    this.mesh = new THREE.SkinnedMesh(g, material);
    this.mesh.add(this.bones[0]);
    this.mesh.bind(new THREE.Skeleton(this.bones, this.inverses), new THREE.Matrix4());
    this.mesh.frustumCulled = false;
    this.group = new THREE.Group();
    this.group.add(this.mesh);
    this.translRef = null;
    this.joints = new Float64Array(meta.parents.length * 3);
    this.setPose(new Float32Array(165), new Float32Array(3), new Float32Array(0));
    this.translRef = null;
  }

  /** Stand at `placement` ({position, yaw}). */
  place(placement) {
    this.group.position.set(...placement.position);
    this.group.rotation.set(0, placement.yaw, 0);
  }

  /** fullPose (165,) rad, transl (3,) m, expression (E',) coefficients. */
  setPose(fullPose, transl, expression) {
    const m = this.meta, E = m.expression, J = this.joints;
    if (this.translRef === null) this.translRef = Array.from(transl);
    for (let j = 0; j < m.parents.length; j++) {
      for (let c = 0; c < 3; c++) {
        let v = m.joints[j][c];
        const dirs = m.joints_expr[j][c];
        for (let e = 0; e < E && e < expression.length; e++) v += dirs[e] * expression[e];
        J[3 * j + c] = v;
      }
    }
    for (let j = 0; j < m.parents.length; j++) {
      const p = m.parents[j], b = this.bones[j];
      if (p < 0) {
        b.position.set(J[0] + transl[0] - this.translRef[0], J[1] + transl[1] - this.translRef[1] + m.ground_offset_m,
                       J[2] + transl[2] - this.translRef[2]);
      } else {
        b.position.set(J[3 * j] - J[3 * p], J[3 * j + 1] - J[3 * p + 1], J[3 * j + 2] - J[3 * p + 2]);
      }
      const q = axisAngleToQuat(fullPose[3 * j], fullPose[3 * j + 1], fullPose[3 * j + 2]);
      b.quaternion.set(q[1], q[2], q[3], q[0]);
      this.inverses[j].makeTranslation(-J[3 * j], -J[3 * j + 1], -J[3 * j + 2]);
    }
    const inf = this.mesh.morphTargetInfluences;
    if (inf) for (let e = 0; e < inf.length; e++) inf[e] = e < expression.length ? expression[e] : 0;
  }
}
