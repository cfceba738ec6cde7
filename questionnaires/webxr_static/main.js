// The WebXR page: avatars from the pose stream, speech on audio cues, the questionnaire panel.
// State for people and tests is on window.vrStudy (read-only for them).
import * as THREE from "/w/vendor/three/three.module.js";
import { JitterBuffer } from "./jitter.js";
import { parseMessage } from "./protocol.js";
import { ClockOffset } from "./clock.js";
import { Avatar, loadModel, placements } from "./avatar.js";
import { readSkinnedVertices } from "./readback.js";

const EYE_HEIGHT_M = 1.6;             // inline view: a seated-or-standing participant's eyes
const LATENCY_RECORDS = 4000;
const state = window.vrStudy = {
  ready: false, error: null, frames: 0, xrFrames: 0, avatars: {}, malformed: 0,
  clock: { offsetS: 0, rttS: null, pings: 0 }, audio: [], latency: [],
  xr: { supported: false, active: false, sessions: 0, referenceSpace: null },
  panel: null, camera: null, socket: "closed", placements: {},
  correctives: null,                  // the model's pose correctives (model.json), null: none
  // per-frame JS time (ms, summed over `frames`): posing the avatars (incl. the pose feature) and render()
  perf: { frames: 0, poseMs: 0, renderMs: 0 },
};
// for checks: avatar id -> its vertices as the GPU skins them (world, m; Float32Array V * 3 as an Array)
state.debug = { skinnedVertices: (id) => Array.from(readSkinnedVertices(renderer, scene, avatars.get(id))) };
const statusEl = document.getElementById("status");
const say = (t) => { statusEl.textContent = t; };

// ---------------------------------------------------------------- scene
const canvas = document.getElementById("view");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
renderer.setPixelRatio(window.devicePixelRatio || 1);
renderer.xr.enabled = true;
renderer.xr.setReferenceSpaceType("local-floor");
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x30343a);
scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 2.0));
const sun = new THREE.DirectionalLight(0xffffff, 1.5);
sun.position.set(0.5, 2.5, 1.5);
scene.add(sun);
// inline view: the participant's eyes at the origin, looking at the avatars (-Z)
const camera = new THREE.PerspectiveCamera(50, 1, 0.05, 50);
camera.position.set(0, EYE_HEIGHT_M - 0.3, 1.2);
camera.lookAt(0, 0.95, -1.3);
function resize() {
  const w = window.innerWidth, h = window.innerHeight;
  renderer.setSize(w, h, false);
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
window.addEventListener("resize", resize);
resize();

// ---------------------------------------------------------------- clock and stream
const clock = new ClockOffset();
const buffers = new Map();          // avatar id -> JitterBuffer
const avatars = new Map();          // avatar id -> Avatar
let model = null;
let socket = null;
let pingId = 0;
const pings = new Map();

function send(obj) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj)); }

function ping() {
  pingId += 1;
  const t = performance.now();
  pings.set(pingId, t);
  send({ type: "ping", id: pingId, client_ms: t });
}

function layout() {
  const ids = [...avatars.keys()].sort();
  const places = placements(ids.length);
  ids.forEach((id, i) => avatars.get(id).place(places[i]));
  state.placements = Object.fromEntries(ids.map((id, i) => [id, places[i]]));
}

function onPose(m, recvMs) {
  let buf = buffers.get(m.avatar);
  if (!buf) {
    buf = new JitterBuffer();
    buffers.set(m.avatar, buf);
    if (model) { const a = new Avatar(model); avatars.set(m.avatar, a); scene.add(a.group); layout(); }
  }
  m.sample.recvServerS = clock.toServer(recvMs);
  buf.push(m.header, m.sample);
}

function connect() {
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/w/ws`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { state.socket = "open"; for (let i = 0; i < 8; i++) setTimeout(ping, 30 * i); };
  socket.onclose = () => { state.socket = "closed"; setTimeout(connect, 1000); };
  socket.onmessage = (ev) => {
    const recvMs = performance.now();
    if (typeof ev.data !== "string") {
      const m = parseMessage(ev.data);
      if (m === null) state.malformed += 1;
      else if (m.kind === "pose") onPose(m, recvMs);
      else onCue(m);
      return;
    }
    const msg = JSON.parse(ev.data);
    if (msg.type === "pong" && pings.has(msg.id)) {
      clock.add(pings.get(msg.id), recvMs, msg.server_s);
      pings.delete(msg.id);
      state.clock = { offsetS: clock.offsetS, rttS: clock.rttS, pings: state.clock.pings + 1 };
    } else if (msg.type === "panel") {
      showPanel(msg.panel);
    }
  };
}
setInterval(ping, 2000);

// ---------------------------------------------------------------- audio
const audioCtx = new AudioContext({ latencyHint: "interactive" });
const analyser = audioCtx.createAnalyser();
analyser.fftSize = 256;
analyser.connect(audioCtx.destination);
const analyserData = new Float32Array(analyser.fftSize);
const audioFiles = new Map();
let listening = null;                 // the cue record waiting for its first audible frame
const resumeAudio = () => { if (audioCtx.state !== "running") audioCtx.resume(); };
window.addEventListener("pointerdown", resumeAudio);
window.addEventListener("keydown", resumeAudio);

function audioBuffer(cue) {
  const q = new URLSearchParams({ path: cue.audio });
  if (cue.library) q.set("library", cue.library);
  const key = q.toString();
  if (!audioFiles.has(key)) {
    audioFiles.set(key, fetch(`/w/audio?${key}`).then((r) => {
      if (!r.ok) throw new Error(`audio ${cue.audio}: HTTP ${r.status}`);
      return r.arrayBuffer();
    }).then((b) => audioCtx.decodeAudioData(b)));
  }
  return audioFiles.get(key);
}

async function onCue(m) {
  const cue = m.cue;
  const rec = { avatar: m.avatar, cueId: cue.cueId, start_s: cue.start_s, offset_s: cue.offset_s, error: null };
  state.audio.push(rec);
  try {
    const buf = await audioBuffer(cue);
    resumeAudio();
    // context time <-> page time, then the cue's start on the page's clock
    const ts = audioCtx.getOutputTimestamp();
    const ctxAt = (pageMs) => ts.contextTime + (pageMs - ts.performanceTime) / 1000;
    let when = ctxAt(clock.toPage(cue.start_s));
    let offset = cue.offset_s;
    const earliest = audioCtx.currentTime + 0.005;
    if (when < earliest) { offset += earliest - when; when = earliest; }
    const src = audioCtx.createBufferSource();
    src.buffer = buf;
    src.connect(analyser);
    src.start(when, Math.max(0, offset));
    rec.scheduled_s = clock.toServer(ts.performanceTime + (when - ts.contextTime) * 1000);
    rec.played_offset_s = offset;
    listening = rec;
  } catch (e) {
    rec.error = String(e);
  }
}

function listen(frameMs) {
  if (!listening) return;
  analyser.getFloatTimeDomainData(analyserData);
  let peak = 0;
  for (const v of analyserData) peak = Math.max(peak, Math.abs(v));
  if (peak > 0.01) { listening.heard_s = clock.toServer(frameMs); listening = null; }
}

// ---------------------------------------------------------------- questionnaire panel
let panelMesh = null;
let panelInfo = null;
let panelPlaced = false;
const textureLoader = new THREE.TextureLoader();

function showPanel(info) {
  state.panel = info;
  if (!info) {
    if (panelMesh) { scene.remove(panelMesh); panelMesh = null; }
    panelInfo = null; panelPlaced = false;
    return;
  }
  const sameSize = panelInfo && panelInfo.width_m === info.width_m && panelInfo.height_m === info.height_m;
  panelInfo = info;
  textureLoader.load(`/w/panel.png?v=${info.version}`, (tex) => {
    tex.colorSpace = THREE.SRGBColorSpace;
    if (!panelMesh || !sameSize) {
      if (panelMesh) scene.remove(panelMesh);
      panelMesh = new THREE.Mesh(new THREE.PlaneGeometry(info.width_m, info.height_m),
                                 new THREE.MeshBasicMaterial({ map: tex, transparent: true }));
      scene.add(panelMesh);
      if (!panelPlaced) placePanel();
    } else {
      panelMesh.material.map.dispose();
      panelMesh.material.map = tex;
    }
    state.panel = { ...info, loadedVersion: info.version };
  });
}

function headPose() {
  const cam = renderer.xr.isPresenting ? renderer.xr.getCamera() : camera;
  const p = new THREE.Vector3(), q = new THREE.Quaternion();
  cam.getWorldPosition(p);
  cam.getWorldQuaternion(q);
  return { p, q };
}

function placePanel() {
  // world-locked: distance_m ahead of the head (horizontally), drop_m below the eyes, facing the head
  const { p, q } = headPose();
  const fwd = new THREE.Vector3(0, 0, -1).applyQuaternion(q);
  fwd.y = 0;
  if (fwd.lengthSq() < 1e-6) fwd.set(0, 0, -1);
  fwd.normalize();
  panelMesh.position.copy(p).addScaledVector(fwd, panelInfo.distance_m);
  panelMesh.position.y = p.y - panelInfo.drop_m;
  panelMesh.lookAt(p.x, panelMesh.position.y, p.z);
  panelPlaced = true;
}

const raycaster = new THREE.Raycaster();
function hitUV(origin, direction) {
  if (!panelMesh) return null;
  raycaster.set(origin, direction);
  const hit = raycaster.intersectObject(panelMesh, false)[0];
  return hit && hit.uv ? [hit.uv.x, 1 - hit.uv.y] : null;   // panel v runs from the top
}

// controllers and hands (XR): their target ray, select held while pressed
const controllers = [0, 1].map((i) => {
  const c = renderer.xr.getController(i);
  c.userData.select = false;
  c.userData.pressed = false;         // a press shorter than a frame still reaches the panel
  c.addEventListener("connected", (ev) => { c.userData.source = ev.data.handedness === "left" ? "left" : "right"; });
  c.addEventListener("disconnected", () => { c.userData.source = null; });
  c.addEventListener("selectstart", () => { c.userData.select = true; c.userData.pressed = true; });
  c.addEventListener("selectend", () => { c.userData.select = false; });
  scene.add(c);
  return c;
});
// desktop: the mouse is a pointer, arrow keys / Enter / Backspace are panel keys
const mouse = { ndc: null, select: false, pressed: false };
canvas.addEventListener("pointermove", (e) => {
  mouse.ndc = new THREE.Vector2((e.clientX / canvas.clientWidth) * 2 - 1, -(e.clientY / canvas.clientHeight) * 2 + 1);
});
canvas.addEventListener("pointerdown", () => { mouse.select = true; mouse.pressed = true; });
window.addEventListener("pointerup", () => { mouse.select = false; });
const KEYS = { ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right", Enter: "select",
               Backspace: "back" };
window.addEventListener("keydown", (e) => { if (KEYS[e.key] && panelMesh) send({ type: "key", key: KEYS[e.key] }); });

function sendPointers() {
  if (!panelMesh) return;
  if (renderer.xr.isPresenting) {
    for (const c of controllers) {
      if (!c.userData.source) continue;
      const o = new THREE.Vector3(), q = new THREE.Quaternion();
      c.getWorldPosition(o); c.getWorldQuaternion(q);
      send({ type: "pointer", source: c.userData.source, uv: hitUV(o, new THREE.Vector3(0, 0, -1).applyQuaternion(q)),
             select: c.userData.select || c.userData.pressed });
      c.userData.pressed = false;
    }
    const { p, q } = headPose();
    send({ type: "pointer", source: "gaze", uv: hitUV(p, new THREE.Vector3(0, 0, -1).applyQuaternion(q)), select: false });
  } else if (mouse.ndc) {
    raycaster.setFromCamera(mouse.ndc, camera);
    const ev = { type: "pointer", source: "mouse", uv: hitUV(raycaster.ray.origin, raycaster.ray.direction),
                 select: mouse.select || mouse.pressed };
    send(ev);
    state.pointer = ev;
    mouse.pressed = false;
  }
}

// ---------------------------------------------------------------- frames
function onFrame(timeMs, xrFrame) {
  state.frames += 1;
  if (xrFrame) state.xrFrames += 1;
  const displayS = clock.toServer(timeMs);
  const perf = state.perf;
  for (const [id, buf] of buffers) {
    const newest = buf.samples.length ? buf.samples[buf.samples.length - 1] : null;
    const s = buf.poseAt(displayS);
    const a = avatars.get(id);
    if (!s || !a) continue;
    const t0 = performance.now();
    a.setPose(s.fullPose, s.transl, s.expression);
    perf.poseMs += performance.now() - t0;
    const rec = state.avatars[id] || (state.avatars[id] = { shownSeq: -1 });
    if (newest && newest.seq !== rec.newestSeq && displayS >= newest.time_s) {
      // the newest pose reaches the display with this frame: latency record (server clock)
      state.latency.push([newest.seq, newest.time_s, newest.recvServerS, displayS]);
      if (state.latency.length > LATENCY_RECORDS) state.latency.shift();
      rec.newestSeq = newest.seq;
    }
    Object.assign(rec, { seq: s.seq, time_s: s.time_s, age_s: s.age_s, displayS, fullPose: Array.from(s.fullPose),
                         transl: Array.from(s.transl), expression: Array.from(s.expression), stats: { ...buf.stats } });
  }
  listen(timeMs);
  sendPointers();
  const t1 = performance.now();
  renderer.render(scene, camera);
  perf.frames += 1;
  perf.renderMs += performance.now() - t1;
  const cam = renderer.xr.isPresenting ? renderer.xr.getCamera() : camera;
  if (panelMesh && state.panel) state.panel.matrix = Array.from(panelMesh.matrixWorld.elements);
  state.camera = { projection: Array.from(cam.projectionMatrix.elements),
                   view: Array.from(cam.matrixWorldInverse.elements) };
}

// ---------------------------------------------------------------- WebXR
const button = document.getElementById("enter-vr");
let xrSession = null;
async function enterVR() {
  if (xrSession) { await xrSession.end(); return; }
  resumeAudio();
  const session = await navigator.xr.requestSession("immersive-vr", { requiredFeatures: ["local-floor"] });
  xrSession = session;
  state.xr.sessions += 1;
  session.addEventListener("end", () => {
    xrSession = null;
    state.xr.active = false;
    button.textContent = "Enter VR";
    say("Inline view. Press Enter VR to put the scene in the headset.");
  });
  await renderer.xr.setSession(session);
  state.xr.active = true;
  state.xr.referenceSpace = "local-floor";
  button.textContent = "Exit VR";
  say("In VR.");
  if (panelMesh) placePanel();
}
button.addEventListener("click", () => enterVR().catch((e) => { state.error = `WebXR: ${e}`; say(state.error); }));

async function start() {
  if (navigator.xr) {
    state.xr.supported = await navigator.xr.isSessionSupported("immersive-vr").catch(() => false);
  }
  button.hidden = !state.xr.supported;
  say(state.xr.supported ? "Inline view. Press Enter VR to put the scene in the headset."
    : "This browser has no immersive WebXR: showing the inline 3D view.");
  model = await loadModel();
  state.correctives = model.meta.pose_correctives || null;
  for (const id of buffers.keys()) { const a = new Avatar(model); avatars.set(id, a); scene.add(a.group); }
  layout();
  connect();
  renderer.setAnimationLoop(onFrame);
  state.ready = true;
}
start().catch((e) => { state.error = String(e); say(`error: ${e}`); });
