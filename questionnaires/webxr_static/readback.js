// Read back an avatar's skinned vertices from the GPU (for checks: tests compare them with the
// Python skinning). The avatar's geometry is drawn once as points by three.js's own morph and
// skinning shader chunks plus the page's pose-corrective chunk (poseCorrectiveGLSL), each
// vertex into its own texel of a float render target holding its world position (m).
import * as THREE from "/w/vendor/three/three.module.js";
import { poseCorrectiveGLSL } from "./avatar.js";

const WIDTH = 256;                     // texels per row of the read-back target
const LAYER = 31;                      // drawn only by the read-back camera

function readbackMaterial(avatar) {
  const pc = avatar.meta.pose_correctives;
  const glsl = pc ? poseCorrectiveGLSL(pc) : { pars: "", body: "" };
  return new THREE.ShaderMaterial({
    uniforms: { readSize: { value: new THREE.Vector2() }, ...(avatar.poseUniforms || {}) },
    vertexShader: `
#include <common>
#include <morphtarget_pars_vertex>
#include <skinning_pars_vertex>
${glsl.pars}
uniform vec2 readSize;
varying vec4 vWorld;
void main() {
  #include <morphinstance_vertex>
  #include <skinbase_vertex>
  #include <begin_vertex>
  #include <morphtarget_vertex>
  ${glsl.body}
  #include <skinning_vertex>
  vWorld = modelMatrix * vec4(transformed, 1.0);
  int w = int(readSize.x);
  vec2 texel = vec2(float(gl_VertexID % w), float(gl_VertexID / w)) + 0.5;
  gl_Position = vec4(2.0 * texel / readSize - 1.0, 0.0, 1.0);
  gl_PointSize = 1.0;
}`,
    fragmentShader: `
varying vec4 vWorld;
void main() { gl_FragColor = vWorld; }`,
    depthTest: false,
    depthWrite: false,
  });
}

/**
 * World positions (m) of `avatar`'s vertices as the GPU skins them now: Float32Array (V * 3).
 * Needs float render targets (WebGL 2 with EXT_color_buffer_float).
 */
export function readSkinnedVertices(renderer, scene, avatar) {
  const V = avatar.meta.vertices, H = Math.ceil(V / WIDTH);
  if (!avatar.readback) {
    const src = avatar.mesh.geometry, g = new THREE.BufferGeometry();   // no index: one point per vertex
    for (const name of ["position", "skinIndex", "skinWeight", "poseRow"]) {
      if (src.attributes[name]) g.setAttribute(name, src.attributes[name]);
    }
    g.morphAttributes = src.morphAttributes;
    g.morphTargetsRelative = src.morphTargetsRelative;
    const material = readbackMaterial(avatar);
    const points = new THREE.SkinnedMesh(g, material);
    points.isMesh = false;             // drawn as gl.POINTS, skinned by three.js like the mesh
    points.isPoints = true;
    points.frustumCulled = false;
    points.layers.set(LAYER);
    points.visible = false;            // drawn only while its own avatar is read back
    points.bind(avatar.mesh.skeleton, avatar.mesh.bindMatrix);
    points.morphTargetInfluences = avatar.mesh.morphTargetInfluences;
    avatar.mesh.add(points);           // the mesh's frame: the same model matrix
    const target = new THREE.WebGLRenderTarget(WIDTH, H, { type: THREE.FloatType, format: THREE.RGBAFormat,
      minFilter: THREE.NearestFilter, magFilter: THREE.NearestFilter, depthBuffer: false, generateMipmaps: false });
    const camera = new THREE.Camera();
    camera.layers.set(LAYER);
    material.uniforms.readSize.value.set(WIDTH, H);
    avatar.readback = { target, camera, points };
  }
  const { target, camera, points } = avatar.readback;
  const background = scene.background, clearColor = renderer.getClearColor(new THREE.Color());
  const clearAlpha = renderer.getClearAlpha(), before = renderer.getRenderTarget();
  scene.background = null;
  renderer.setRenderTarget(target);
  renderer.setClearColor(0x000000, 0);
  renderer.clear();
  points.visible = true;
  renderer.render(scene, camera);
  points.visible = false;
  renderer.setRenderTarget(before);
  renderer.setClearColor(clearColor, clearAlpha);
  scene.background = background;
  const rgba = new Float32Array(WIDTH * H * 4);
  renderer.readRenderTargetPixels(target, 0, 0, WIDTH, H, rgba);
  const out = new Float32Array(V * 3);
  for (let v = 0; v < V; v++) {
    if (rgba[4 * v + 3] !== 1) throw new Error(`read-back: vertex ${v} was not drawn`);
    out[3 * v] = rgba[4 * v]; out[3 * v + 1] = rgba[4 * v + 1]; out[3 * v + 2] = rgba[4 * v + 2];
  }
  return out;
}
