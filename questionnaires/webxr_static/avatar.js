// The study's SMPL-X avatar as a three.js SkinnedMesh, posed like the XR renderer's GPU skinning
// (vr_study/xr/gpuskin.py: top-4 weights, expression blend shapes before skinning, joint
// transforms with the expression's joint shift, the clip's translation relative to its first
// one, feet lifted onto the floor) and placed like vr_study/xr/avatar.py (an arc 1.3 m in
// front of the participant, facing them). Units: metres, radians (axis-angle).
// Pose correctives (SMPL-X posedirs, only when model.json has pose_correctives): per frame the
// CPU computes SMPL-X's 486-number pose feature (R_j - I of joints 1..54, row-major; smplx
// 0.1.28 lbs.py:218) into a uniform array, and the vertex shader adds basis . feature to each
// vertex the correctives move, after the expression morphs and before skinning (as
// vr_study/xr/scene.py's shader and vr_study/body/model.py do).
import * as THREE from "/w/vendor/three/three.module.js";
import { axisAngleToQuat } from "./jitter.js";

// float16 arrays stay raw IEEE half bits (the basis texture holds them two per 32-bit channel)
const TYPES = { float32: Float32Array, float16: Uint16Array, int32: Int32Array, uint16: Uint16Array,
                uint32: Uint32Array, uint8: Uint8Array };
const NUM_JOINTS = 55;
/** Width (texels) of the pose-corrective basis texture: WebGL 2's smallest guaranteed size. */
export const POSE_TEXTURE_WIDTH = 2048;

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

/**
 * SMPL-X's pose feature: for joints 1..54, the rotation matrix of fullPose's axis-angle minus
 * the identity, row-major ((j - 1) * 9 + 3 * row + col), as vr_study.xr.gpuskin.pose_feature.
 * fullPose (165,) rad; out: Float32Array of at least 486 (the shader's is 488, zero-padded).
 */
export function poseFeatures(fullPose, out) {
  for (let j = 1; j < NUM_JOINTS; j++) {
    rotationMinusIdentity(axisAngleToQuat(fullPose[3 * j], fullPose[3 * j + 1], fullPose[3 * j + 2]), out, (j - 1) * 9);
  }
  return out;
}

/** The rotation matrix of unit quaternion q (w, x, y, z) minus I, row-major into out[o..o + 8]
 * (no 1 - cos cancellation near the rest pose). */
function rotationMinusIdentity(q, out, o) {
  const w = q[0], x = q[1], y = q[2], z = q[3];
  out[o] = -2 * (y * y + z * z); out[o + 1] = 2 * (x * y - w * z); out[o + 2] = 2 * (x * z + w * y);
  out[o + 3] = 2 * (x * y + w * z); out[o + 4] = -2 * (x * x + z * z); out[o + 5] = 2 * (y * z - w * x);
  out[o + 6] = 2 * (x * z - w * y); out[o + 7] = 2 * (y * z + w * x); out[o + 8] = -2 * (x * x + y * y);
}

/**
 * The pose-corrective basis (P, 3, G, 4) as a data texture. float32: RGBA32F, one texel per
 * 4 features; float16: the same bytes as RGBA32UI, one texel per 8 features (two half floats
 * per channel, unpacked in the shader: half the texel fetches of an RGBA16F texture).
 */
function poseBasisTexture(model) {
  if (model.poseTexture) return model.poseTexture;     // one per model, shared by its avatars
  const pc = model.meta.pose_correctives, basis = model.array("pose_basis");
  const half = pc.dtype === "float16";
  const src = half ? new Uint32Array(basis.buffer, basis.byteOffset, basis.length / 2) : basis;
  const height = Math.ceil(src.length / 4 / POSE_TEXTURE_WIDTH);
  const data = new src.constructor(POSE_TEXTURE_WIDTH * height * 4);
  data.set(src);
  const tex = half
    ? new THREE.DataTexture(data, POSE_TEXTURE_WIDTH, height, THREE.RGBAIntegerFormat, THREE.UnsignedIntType)
    : new THREE.DataTexture(data, POSE_TEXTURE_WIDTH, height, THREE.RGBAFormat, THREE.FloatType);
  if (half) tex.internalFormat = "RGBA32UI";
  tex.minFilter = tex.magFilter = THREE.NearestFilter;
  tex.generateMipmaps = false;
  tex.needsUpdate = true;
  model.poseTexture = tex;
  return tex;
}

/**
 * GLSL for the correctives of model.json's `pose_correctives` (groups of 4 features, dtype):
 * declarations (before main) and the offset added to `transformed` (before skinning).
 */
export function poseCorrectiveGLSL(pc) {
  const G = pc.groups, W = POSE_TEXTURE_WIDTH, half = pc.dtype === "float16";
  if (half && G % 2) throw new Error(`pose correctives: ${G} feature groups, not an even number`);
  const at = (i) => `ivec2(${i} % ${W}, ${i} / ${W})`;
  // per vertex and coordinate: G / 2 texels of 8 half floats, or G texels of 4 floats
  const texel = half ? G / 2 : G;
  const dot = half
    ? (c, i) => `{ uvec4 t = texelFetch(poseBasis, ${at(i)}, 0);
    poseOffset.${c} += dot(f0, vec4(unpackHalf2x16(t.x), unpackHalf2x16(t.y)))
                   + dot(f1, vec4(unpackHalf2x16(t.z), unpackHalf2x16(t.w))); }`
    : (c, i) => `poseOffset.${c} += dot(f0, texelFetch(poseBasis, ${at(i)}, 0));`;
  return {
    pars: `
uniform highp ${half ? "usampler2D" : "sampler2D"} poseBasis;  // (row * 3 + xyz) * ${texel} + g: ${half ? 8 : 4} features' offsets (m)
uniform vec4 poseFeatures[${G}];    // the pose feature, 4 per vector
attribute float poseRow;            // the vertex's row in poseBasis, -1: no corrective
`,
    body: `
if (poseRow >= 0.0) {               // pose correctives: after the expression, before skinning
  int base = int(poseRow + 0.5) * ${3 * texel};
  vec3 poseOffset = vec3(0.0);
  for (int g = 0; g < ${texel}; g++) {
    vec4 f0 = poseFeatures[${half ? "2 * g" : "g"}];${half ? "\n    vec4 f1 = poseFeatures[2 * g + 1];" : ""}
    int i = base + g;
    ${dot("x", "i")}
    ${dot("y", `(i + ${texel})`)}
    ${dot("z", `(i + ${2 * texel})`)}
  }
  transformed += poseOffset;
}
`,
  };
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
    const pc = meta.pose_correctives;
    this.poseUniforms = null;           // models without posedirs: three.js's own shader, unchanged
    if (pc) {
      g.setAttribute("poseRow", new THREE.BufferAttribute(Float32Array.from(array("pose_row")), 1));
      this.poseUniforms = { poseBasis: { value: poseBasisTexture(model) },
                            poseFeatures: { value: new Float32Array(pc.groups * 4) } };
      const glsl = poseCorrectiveGLSL(pc);
      material.onBeforeCompile = (shader) => {
        Object.assign(shader.uniforms, this.poseUniforms);
        shader.vertexShader = shader.vertexShader
          .replace("#include <skinning_pars_vertex>", `#include <skinning_pars_vertex>\n${glsl.pars}`)
          .replace("#include <skinning_vertex>", `${glsl.body}\n#include <skinning_vertex>`);
      };
      material.customProgramCacheKey = () => `smplx-pose-correctives-${pc.groups}-${pc.dtype}`;
    }
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
    const features = this.poseUniforms && this.poseUniforms.poseFeatures.value;
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
      if (features && j > 0) rotationMinusIdentity(q, features, (j - 1) * 9);   // the pose feature
      this.inverses[j].makeTranslation(-J[3 * j], -J[3 * j + 1], -J[3 * j + 2]);
    }
    const inf = this.mesh.morphTargetInfluences;
    if (inf) for (let e = 0; e < inf.length; e++) inf[e] = e < expression.length ? expression[e] : 0;
  }
}
