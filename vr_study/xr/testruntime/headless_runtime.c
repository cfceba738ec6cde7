/*
 * vr-study headless OpenXR test runtime.
 *
 * A small OpenXR 1.0 runtime for tests and CI: it is loaded by the real Khronos loader
 * (through a JSON manifest named by XR_RUNTIME_JSON), implements the core API with a
 * spec-conformant session state machine and frame loop at 90 Hz, stereo views around a
 * scripted head pose, OpenGL swapchains (XR_KHR_opengl_enable with the Xlib binding, or
 * XR_MNDX_egl_enable), XR_KHR_convert_timespec_time and XR_MND_headless, and it can write
 * out what each eye was shown.
 *
 * Units: metres, radians, XrTime = CLOCK_MONOTONIC nanoseconds (+ XR_HEADLESS_TIME_OFFSET_NS).
 *
 * Environment (all optional):
 *   XR_HEADLESS_HEAD_POSE      "x,y,z[,qx,qy,qz,qw]" head pose in STAGE (default 0,1.6,0)
 *   XR_HEADLESS_HEAD_SWAY_M    amplitude (m) of a 0.25 Hz left-right head sway starting at 0
 *                              at the first posed frame (default 0)
 *   XR_HEADLESS_IPD_M          interpupillary distance in metres (default 0.063)
 *   XR_HEADLESS_VIEW_SIZE      "WxH" recommended per-eye image size (default 640x720)
 *   XR_HEADLESS_CAPTURE_DIR    directory: at xrEndFrame, write each eye's image as PPM
 *   XR_HEADLESS_CAPTURE_EVERY  capture every Nth submitted frame (default 1)
 *   XR_HEADLESS_EXIT_AFTER_FRAMES  after N submitted frames, the runtime asks the
 *                              application to exit (session goes to STOPPING, then EXITING)
 *   XR_HEADLESS_LOSS_AFTER_FRAMES  after N submitted frames, the session becomes LOSS_PENDING
 *   XR_HEADLESS_NO_PACING      "1": xrWaitFrame does not sleep to the 90 Hz display cadence
 *   XR_HEADLESS_LOG            file: one JSON line per submitted frame (time, layers, views)
 *   XR_HEADLESS_FAIL_AFTER_FRAMES  after N submitted frames, xrEndFrame fails with
 *                              XR_ERROR_RUNTIME_FAILURE (an unexpected runtime error)
 *   XR_HEADLESS_NO_TIMESPEC    "1": do not offer XR_KHR_convert_timespec_time (like runtimes
 *                              without it), so applications must map XrTime themselves
 *   XR_HEADLESS_TIME_OFFSET_NS XrTime = CLOCK_MONOTONIC + this many nanoseconds (default 0;
 *                              real runtimes may use another epoch)
 *   XR_HEADLESS_HAND_INTERACTION "1": offer XR_EXT_hand_interaction (hand-tracking aim and pinch)
 *   XR_HEADLESS_INPUT_SCRIPT   file: scripted controllers, JSON Lines read at
 *                              xrAttachSessionActionSets, one object per change, frames not
 *                              decreasing:
 *                                {"frame": 10, "hand": "right",
 *                                 "profile": "/interaction_profiles/oculus/touch_controller",
 *                                 "aim": [x, y, z, qx, qy, qz, qw], "grip": [x, y, z],
 *                                 "select": 1, "squeeze": 0.0, "thumbstick": [0.0, 0.5],
 *                                 "tracked": true}
 *                              From xrSyncActions of frame `frame` on (the number of frames
 *                              ended so far), the given fields of that hand hold; fields left
 *                              out keep their value. "profile": the interaction profile the
 *                              controller has (null: none); it becomes current only when the
 *                              application suggested bindings for it. "aim"/"grip": poses in
 *                              STAGE (metres; quaternion x, y, z, w, identity when left out).
 *                              "select": the select button / trigger / pinch value 0..1;
 *                              "tracked": false makes both poses invalid until given again.
 *                              Lines it cannot use are reported on stderr and skipped.
 *
 * Input: suggested bindings are checked against the paths the OpenXR registry lists for
 * each interaction profile (see the table below): others fail with XR_ERROR_PATH_UNSUPPORTED.
 * xrSyncActions applies the script, evaluates every action per hand and queues
 * XrEventDataInteractionProfileChanged when a hand's current profile changes; action spaces
 * locate at the bound pose as of the last xrSyncActions.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <X11/Xlib.h>
#include <GL/glx.h>
#include <EGL/egl.h>

#define XR_USE_PLATFORM_XLIB
#define XR_USE_PLATFORM_EGL
#define XR_USE_GRAPHICS_API_OPENGL
#define XR_USE_TIMESPEC
#include <openxr/openxr.h>
#include <openxr/openxr_platform.h>
#include <openxr/openxr_reflection.h>

#define EXPORT __attribute__((visibility("default")))
#define RUNTIME_NAME "vr-study headless"
#define DISPLAY_PERIOD_NS 11111111LL /* 90 Hz */
#define NUM_SWAPCHAIN_IMAGES 3
#define MAX_EVENTS 64
#define MAX_PATHS 512
#define MAX_TRACKED_FRAMES 4
#define MAX_ACTIONS 64
#define MAX_BINDINGS 512
#define EXT_HAND_INTERACTION_NAME "XR_EXT_hand_interaction" /* newer than these headers */

/* ---- loader negotiation interface (OpenXR loader specification, interface version 1) ---- */
typedef enum XrLoaderInterfaceStructs {
    XR_LOADER_INTERFACE_STRUCT_UNINTIALIZED = 0,
    XR_LOADER_INTERFACE_STRUCT_LOADER_INFO,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_REQUEST,
    XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_CREATE_INFO,
    XR_LOADER_INTERFACE_STRUCT_API_LAYER_NEXT_INFO,
} XrLoaderInterfaceStructs;
#define XR_LOADER_INFO_STRUCT_VERSION 1
#define XR_RUNTIME_INFO_STRUCT_VERSION 1
#define XR_CURRENT_LOADER_RUNTIME_VERSION 1
typedef struct XrNegotiateLoaderInfo {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t minInterfaceVersion;
    uint32_t maxInterfaceVersion;
    XrVersion minApiVersion;
    XrVersion maxApiVersion;
} XrNegotiateLoaderInfo;
typedef struct XrNegotiateRuntimeRequest {
    XrLoaderInterfaceStructs structType;
    uint32_t structVersion;
    size_t structSize;
    uint32_t runtimeInterfaceVersion;
    XrVersion runtimeApiVersion;
    PFN_xrGetInstanceProcAddr getInstanceProcAddr;
} XrNegotiateRuntimeRequest;

/* ---- GL entry points, resolved through the application's binding ---- */
#define GL_TEXTURE_2D 0x0DE1
#define GL_TEXTURE_2D_ARRAY 0x8C1A
#define GL_TEXTURE_BINDING_2D 0x8069
#define GL_TEXTURE_BINDING_2D_ARRAY 0x8C1D
#define GL_PACK_ALIGNMENT 0x0D05
#define GL_RGBA 0x1908
#define GL_UNSIGNED_BYTE 0x1401
#define GL_TEXTURE_MIN_FILTER 0x2801
#define GL_TEXTURE_MAG_FILTER 0x2800
#define GL_LINEAR 0x2601
#define GL_RGBA8 0x8058
#define GL_SRGB8_ALPHA8 0x8C43
#define GL_RGBA16F 0x881A
#define GL_DEPTH_COMPONENT16 0x81A5
#define GL_DEPTH_COMPONENT24 0x81A6
#define GL_DEPTH_COMPONENT32F 0x8CAC
#define GL_DEPTH24_STENCIL8 0x88F0
#define GL_TEXTURE_MAX_LEVEL 0x813D
typedef unsigned int GLuint_t;
typedef struct GLFns {
    void (*GenTextures)(int, GLuint_t *);
    void (*DeleteTextures)(int, const GLuint_t *);
    void (*BindTexture)(unsigned, GLuint_t);
    void (*TexStorage2D)(unsigned, int, unsigned, int, int);
    void (*TexStorage3D)(unsigned, int, unsigned, int, int, int);
    void (*TexParameteri)(unsigned, unsigned, int);
    void (*GetIntegerv)(unsigned, int *);
    void (*PixelStorei)(unsigned, int);
    void (*GetTexImage)(unsigned, int, unsigned, unsigned, void *);
    unsigned (*GetError)(void);
} GLFns;

typedef void *(*GetProcFn)(const char *);

/* ---- objects ---- */
enum { MAGIC_INSTANCE = 0x494e5354, MAGIC_SESSION = 0x53455353, MAGIC_SPACE = 0x53504143,
       MAGIC_SWAPCHAIN = 0x53574150, MAGIC_ACTIONSET = 0x41435353, MAGIC_ACTION = 0x41435449 };

/* An action's value for one hand at one xrSyncActions. */
typedef struct ActionValue {
    int active;        /* bound to an input source of the hand's current interaction profile */
    float v[2];        /* boolean (0/1), float, or 2D vector */
    XrPosef pose;      /* pose actions: in STAGE */
    int pose_valid;
    XrTime change_time;
} ActionValue;

typedef struct Action {
    uint32_t magic;
    struct ActionSet *set;
    XrActionType type;
    int sub[2], n_sub;            /* subaction paths: left, right hand */
    ActionValue cur[2], prev[2];  /* at the last and the previous xrSyncActions */
} Action;

typedef struct Binding { int profile; Action *action; int hand; char component[XR_MAX_PATH_LENGTH]; } Binding;

/* Scripted state of one hand (XR_HEADLESS_INPUT_SCRIPT). */
typedef struct HandState {
    char profile[XR_MAX_PATH_LENGTH]; /* "" no controller */
    XrPosef aim, grip;                /* in STAGE */
    int aim_valid, grip_valid;
    float select, squeeze;            /* 0..1 */
    float thumb[2];
} HandState;

/* One line of the input script: from `frame` on, these fields of `hand` hold. */
enum { KEY_PROFILE = 1, KEY_AIM = 2, KEY_GRIP = 4, KEY_SELECT = 8, KEY_SQUEEZE = 16, KEY_THUMB = 32, KEY_UNTRACK = 64 };
typedef struct InputKey {
    long frame;
    int hand, mask;
    char profile[XR_MAX_PATH_LENGTH];
    XrPosef aim, grip;
    float select, squeeze, thumb[2];
} InputKey;

typedef struct Instance {
    uint32_t magic;
    int ext_opengl, ext_egl, ext_headless, ext_timespec, ext_hand_interaction;
    Action *actions[MAX_ACTIONS];
    int n_actions;
    Binding bindings[MAX_BINDINGS];
    int n_bindings;
    int gl_requirements_queried;
    XrEventDataBuffer events[MAX_EVENTS];
    int ev_head, ev_count;
    char *paths[MAX_PATHS];
    int n_paths;
    struct Session *session;
} Instance;

typedef struct Session {
    uint32_t magic;
    Instance *inst;
    int headless;
    GLFns gl;
    XrSessionState state;
    int running;
    int exit_requested; /* the application or the runtime wants the session to end */
    int loss_pending;
    XrTime last_predicted; /* display time handed out by the last xrWaitFrame */
    XrTime waited[MAX_TRACKED_FRAMES];
    int n_waited;
    int frame_waited, frame_begun; /* xrWaitFrame / xrBeginFrame call-order bookkeeping */
    XrTime begun_time;
    uint64_t frames_submitted;
    int actions_attached;
    HandState hands[2];          /* scripted controllers (XR_HEADLESS_INPUT_SCRIPT) */
    InputKey *script;
    int n_script, next_key;
    int reported_profile[2];     /* interaction profile index per hand, -1 none */
} Session;

typedef struct Space {
    uint32_t magic;
    Session *session;
    int is_action;
    Action *action;   /* action spaces: the pose action and its hand (-1: either) */
    int hand;
    XrReferenceSpaceType type;
    XrPosef offset;
} Space;

typedef struct Swapchain {
    uint32_t magic;
    Session *session;
    XrSwapchainCreateInfo info;
    GLuint_t images[NUM_SWAPCHAIN_IMAGES];
    int acquired[NUM_SWAPCHAIN_IMAGES]; /* queue of acquired image indices, in order */
    int n_acquired;
    int waited;        /* the oldest acquired image has been waited on */
    int next_index;
    int last_released; /* -1 until an image was released */
} Swapchain;

typedef struct ActionSet { uint32_t magic; Instance *inst; int attached; } ActionSet;

/* ---- configuration from the environment ---- */
static double env_double(const char *name, double dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end = NULL;
    double d = strtod(v, &end);
    return end == v ? dflt : d;
}
static long env_long(const char *name, long dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end = NULL;
    long l = strtol(v, &end, 10);
    return end == v ? dflt : l;
}
static void view_size(uint32_t *w, uint32_t *h) {
    unsigned a = 640, b = 720;
    const char *v = getenv("XR_HEADLESS_VIEW_SIZE");
    if (v && sscanf(v, "%ux%u", &a, &b) == 2 && a > 0 && b > 0 && a <= 8192 && b <= 8192) {
        *w = a; *h = b;
    } else { *w = 640; *h = 720; }
}

static XrTime time_offset_ns(void) { return (XrTime)env_double("XR_HEADLESS_TIME_OFFSET_NS", 0.0); }
static int offers_timespec(void) { return !env_long("XR_HEADLESS_NO_TIMESPEC", 0); }

static XrTime now_ns(void) { /* XrTime now */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (XrTime)ts.tv_sec * 1000000000LL + ts.tv_nsec + time_offset_ns();
}

/* ---- pose math ---- */
static XrQuaternionf qmul(XrQuaternionf a, XrQuaternionf b) {
    XrQuaternionf r;
    r.w = a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z;
    r.x = a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y;
    r.y = a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x;
    r.z = a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w;
    return r;
}
static XrQuaternionf qconj(XrQuaternionf q) { XrQuaternionf r = {-q.x, -q.y, -q.z, q.w}; return r; }
static XrVector3f qrot(XrQuaternionf q, XrVector3f v) {
    XrQuaternionf p = {v.x, v.y, v.z, 0};
    XrQuaternionf r = qmul(qmul(q, p), qconj(q));
    XrVector3f o = {r.x, r.y, r.z};
    return o;
}
static XrPosef pose_mul(XrPosef a, XrPosef b) { /* a * b: b expressed in a's frame */
    XrPosef r;
    r.orientation = qmul(a.orientation, b.orientation);
    XrVector3f t = qrot(a.orientation, b.position);
    r.position.x = a.position.x + t.x;
    r.position.y = a.position.y + t.y;
    r.position.z = a.position.z + t.z;
    return r;
}
static XrPosef pose_inv(XrPosef a) {
    XrPosef r;
    r.orientation = qconj(a.orientation);
    XrVector3f t = qrot(r.orientation, a.position);
    r.position.x = -t.x; r.position.y = -t.y; r.position.z = -t.z;
    return r;
}
static int quat_valid(XrQuaternionf q) {
    float n = q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w;
    return fabsf(n - 1.0f) < 0.01f;
}

/* Time (ns) at which the head sway starts: the first real time a pose is asked for, so the
 * scripted motion is the same in every run whatever the clock reads. */
static XrTime sway_origin = 0;

/* Scripted head pose in STAGE at time t (nanoseconds). */
static XrPosef head_pose(XrTime t) {
    XrPosef p = {{0, 0, 0, 1}, {0, 1.6f, 0}};
    const char *v = getenv("XR_HEADLESS_HEAD_POSE");
    if (v) {
        float a[7] = {0, 1.6f, 0, 0, 0, 0, 1};
        int n = sscanf(v, "%f,%f,%f,%f,%f,%f,%f", &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6]);
        if (n >= 3) { p.position.x = a[0]; p.position.y = a[1]; p.position.z = a[2]; }
        if (n == 7) {
            float norm = sqrtf(a[3] * a[3] + a[4] * a[4] + a[5] * a[5] + a[6] * a[6]);
            if (norm > 1e-6f) {
                p.orientation.x = a[3] / norm; p.orientation.y = a[4] / norm;
                p.orientation.z = a[5] / norm; p.orientation.w = a[6] / norm;
            }
        }
    }
    double sway = env_double("XR_HEADLESS_HEAD_SWAY_M", 0.0);
    if (sway != 0.0 && t > 0) {
        if (sway_origin == 0) sway_origin = t;
        p.position.x += (float)(sway * sin(2.0 * M_PI * 0.25 * (double)(t - sway_origin) * 1e-9));
    }
    return p;
}

/* Pose of a reference space's origin in STAGE. LOCAL: at the initial head position, yaw only. */
static XrPosef reference_in_stage(XrReferenceSpaceType type, XrTime t) {
    XrPosef identity = {{0, 0, 0, 1}, {0, 0, 0}};
    if (type == XR_REFERENCE_SPACE_TYPE_VIEW) return head_pose(t);
    if (type == XR_REFERENCE_SPACE_TYPE_LOCAL) {
        XrPosef h = head_pose(0);
        XrQuaternionf q = h.orientation;
        float yaw = atan2f(2.0f * (q.w * q.y + q.x * q.z), 1.0f - 2.0f * (q.y * q.y + q.x * q.x));
        XrPosef l = {{0, sinf(yaw / 2), 0, cosf(yaw / 2)}, h.position};
        return l;
    }
    return identity;
}

/* Pose of a space in STAGE at time t; 0 when it cannot be located (an action space whose
 * pose action is inactive or untracked: as of the last xrSyncActions). */
static int space_in_stage(Space *s, XrTime t, XrPosef *out) {
    if (!s->is_action) {
        *out = pose_mul(reference_in_stage(s->type, t), s->offset);
        return 1;
    }
    Action *a = s->action;
    if (!a || a->magic != MAGIC_ACTION) return 0;
    for (int h = 0; h < 2; h++) {
        if (s->hand >= 0 && h != s->hand) continue;
        if (a->cur[h].active && a->cur[h].pose_valid) {
            *out = pose_mul(a->cur[h].pose, s->offset);
            return 1;
        }
    }
    return 0;
}

static int hand_of_path(Instance *inst, XrPath p);

/* ---- events ---- */
static void push_event(Instance *inst, const void *ev, size_t size) {
    if (inst->ev_count == MAX_EVENTS) { /* drop the oldest, as the spec allows with EVENTS_LOST */
        inst->ev_head = (inst->ev_head + 1) % MAX_EVENTS;
        inst->ev_count--;
    }
    int slot = (inst->ev_head + inst->ev_count) % MAX_EVENTS;
    memset(&inst->events[slot], 0, sizeof(XrEventDataBuffer));
    memcpy(&inst->events[slot], ev, size);
    inst->ev_count++;
}

static void set_state(Session *s, XrSessionState state) {
    if (s->state == state) return;
    s->state = state;
    XrEventDataSessionStateChanged ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = XR_TYPE_EVENT_DATA_SESSION_STATE_CHANGED;
    ev.session = (XrSession)s;
    ev.state = state;
    ev.time = now_ns();
    push_event(s->inst, &ev, sizeof(ev));
}

/* Leave FOCUSED/VISIBLE/SYNCHRONIZED for STOPPING (exit requested by app or runtime). */
static void begin_stopping(Session *s) {
    if (s->state == XR_SESSION_STATE_FOCUSED) set_state(s, XR_SESSION_STATE_VISIBLE);
    if (s->state == XR_SESSION_STATE_VISIBLE) set_state(s, XR_SESSION_STATE_SYNCHRONIZED);
    if (s->state == XR_SESSION_STATE_SYNCHRONIZED || s->state == XR_SESSION_STATE_READY)
        set_state(s, XR_SESSION_STATE_STOPPING);
}

/* ---- handle validation helpers ---- */
#define CHECK_HANDLE(ptr, type_magic, err)                         \
    do {                                                          \
        if (!(ptr) || (ptr)->magic != (type_magic)) return (err); \
    } while (0)

static int session_lost(Session *s) { return s->loss_pending; }

/* ---- instance ---- */
static const char *k_extensions[] = {
    XR_KHR_OPENGL_ENABLE_EXTENSION_NAME, XR_MNDX_EGL_ENABLE_EXTENSION_NAME,
    XR_MND_HEADLESS_EXTENSION_NAME, XR_KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME, EXT_HAND_INTERACTION_NAME,
};
static const uint32_t k_extension_versions[] = {
    XR_KHR_opengl_enable_SPEC_VERSION, XR_MNDX_egl_enable_SPEC_VERSION,
    XR_MND_headless_SPEC_VERSION, XR_KHR_convert_timespec_time_SPEC_VERSION, 1,
};
#define N_EXTENSIONS (sizeof(k_extensions) / sizeof(k_extensions[0]))
static int offers_hand_interaction(void) { return env_long("XR_HEADLESS_HAND_INTERACTION", 0) != 0; }
/* Is extension i offered now? (timespec and hand interaction depend on the environment) */
static int offers_extension(uint32_t i) {
    if (!strcmp(k_extensions[i], XR_KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME)) return offers_timespec();
    if (!strcmp(k_extensions[i], EXT_HAND_INTERACTION_NAME)) return offers_hand_interaction();
    return 1;
}

static XrResult rt_xrEnumerateInstanceExtensionProperties(const char *layerName, uint32_t cap,
                                                          uint32_t *count, XrExtensionProperties *props) {
    if (layerName && *layerName) return XR_ERROR_API_LAYER_NOT_PRESENT;
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    uint32_t n = 0;
    for (uint32_t i = 0; i < N_EXTENSIONS; i++) n += (uint32_t)offers_extension(i);
    *count = n;
    if (cap == 0) return XR_SUCCESS;
    if (cap < n) return XR_ERROR_SIZE_INSUFFICIENT;
    for (uint32_t i = 0, k = 0; i < N_EXTENSIONS; i++) {
        if (!offers_extension(i)) continue;
        if (props[k].type != XR_TYPE_EXTENSION_PROPERTIES) return XR_ERROR_VALIDATION_FAILURE;
        strncpy(props[k].extensionName, k_extensions[i], XR_MAX_EXTENSION_NAME_SIZE - 1);
        props[k].extensionName[XR_MAX_EXTENSION_NAME_SIZE - 1] = 0;
        props[k].extensionVersion = k_extension_versions[i];
        k++;
    }
    return XR_SUCCESS;
}

static XrResult rt_xrEnumerateApiLayerProperties(uint32_t cap, uint32_t *count, XrApiLayerProperties *p) {
    (void)cap; (void)p;
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    *count = 0;
    return XR_SUCCESS;
}

static XrResult rt_xrCreateInstance(const XrInstanceCreateInfo *ci, XrInstance *out) {
    if (!ci || ci->type != XR_TYPE_INSTANCE_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    XrVersion v = ci->applicationInfo.apiVersion;
    if (XR_VERSION_MAJOR(v) != 1 || XR_VERSION_MINOR(v) != 0) return XR_ERROR_API_VERSION_UNSUPPORTED;
    if (ci->applicationInfo.applicationName[0] == 0) return XR_ERROR_NAME_INVALID;
    if (ci->enabledApiLayerCount > 0) return XR_ERROR_API_LAYER_NOT_PRESENT; /* loader strips its own */
    Instance *inst = calloc(1, sizeof(Instance));
    if (!inst) return XR_ERROR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < ci->enabledExtensionCount; i++) {
        const char *e = ci->enabledExtensionNames[i];
        if (!strcmp(e, XR_KHR_OPENGL_ENABLE_EXTENSION_NAME)) inst->ext_opengl = 1;
        else if (!strcmp(e, XR_MNDX_EGL_ENABLE_EXTENSION_NAME)) inst->ext_egl = 1;
        else if (!strcmp(e, XR_MND_HEADLESS_EXTENSION_NAME)) inst->ext_headless = 1;
        else if (!strcmp(e, XR_KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME) && offers_timespec()) inst->ext_timespec = 1;
        else if (!strcmp(e, EXT_HAND_INTERACTION_NAME) && offers_hand_interaction()) inst->ext_hand_interaction = 1;
        else { free(inst); return XR_ERROR_EXTENSION_NOT_PRESENT; }
    }
    inst->magic = MAGIC_INSTANCE;
    *out = (XrInstance)inst;
    return XR_SUCCESS;
}

static XrResult rt_xrDestroyInstance(XrInstance instance) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    for (int i = 0; i < inst->n_paths; i++) free(inst->paths[i]);
    inst->magic = 0;
    free(inst);
    return XR_SUCCESS;
}

static XrResult rt_xrGetInstanceProperties(XrInstance instance, XrInstanceProperties *p) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!p || p->type != XR_TYPE_INSTANCE_PROPERTIES) return XR_ERROR_VALIDATION_FAILURE;
    p->runtimeVersion = XR_MAKE_VERSION(0, 1, 0);
    snprintf(p->runtimeName, XR_MAX_RUNTIME_NAME_SIZE, "%s", RUNTIME_NAME);
    return XR_SUCCESS;
}

static XrResult rt_xrPollEvent(XrInstance instance, XrEventDataBuffer *buf) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!buf || buf->type != XR_TYPE_EVENT_DATA_BUFFER) return XR_ERROR_VALIDATION_FAILURE;
    if (inst->ev_count == 0) return XR_EVENT_UNAVAILABLE;
    memcpy(buf, &inst->events[inst->ev_head], sizeof(XrEventDataBuffer));
    inst->ev_head = (inst->ev_head + 1) % MAX_EVENTS;
    inst->ev_count--;
    return XR_SUCCESS;
}

#define RESULT_CASE(name, value) case name: s = #name; break;
static XrResult rt_xrResultToString(XrInstance instance, XrResult value, char buffer[XR_MAX_RESULT_STRING_SIZE]) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    const char *s = NULL;
    switch (value) { XR_LIST_ENUM_XrResult(RESULT_CASE) default: break; }
    if (s) snprintf(buffer, XR_MAX_RESULT_STRING_SIZE, "%s", s);
    else if (value < 0) snprintf(buffer, XR_MAX_RESULT_STRING_SIZE, "XR_UNKNOWN_FAILURE_%d", -(int)value);
    else snprintf(buffer, XR_MAX_RESULT_STRING_SIZE, "XR_UNKNOWN_SUCCESS_%d", (int)value);
    return XR_SUCCESS;
}
static XrResult rt_xrStructureTypeToString(XrInstance instance, XrStructureType value,
                                           char buffer[XR_MAX_STRUCTURE_NAME_SIZE]) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    const char *s = NULL;
    switch (value) { XR_LIST_ENUM_XrStructureType(RESULT_CASE) default: break; }
    if (s) snprintf(buffer, XR_MAX_STRUCTURE_NAME_SIZE, "%s", s);
    else snprintf(buffer, XR_MAX_STRUCTURE_NAME_SIZE, "XR_UNKNOWN_STRUCTURE_TYPE_%d", (int)value);
    return XR_SUCCESS;
}

/* ---- system ---- */
#define SYSTEM_ID ((XrSystemId)1)
static XrResult rt_xrGetSystem(XrInstance instance, const XrSystemGetInfo *gi, XrSystemId *id) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!gi || gi->type != XR_TYPE_SYSTEM_GET_INFO || !id) return XR_ERROR_VALIDATION_FAILURE;
    if (gi->formFactor != XR_FORM_FACTOR_HEAD_MOUNTED_DISPLAY) {
        if (gi->formFactor == XR_FORM_FACTOR_HANDHELD_DISPLAY) return XR_ERROR_FORM_FACTOR_UNSUPPORTED;
        return XR_ERROR_VALIDATION_FAILURE;
    }
    *id = SYSTEM_ID;
    return XR_SUCCESS;
}

static XrResult rt_xrGetSystemProperties(XrInstance instance, XrSystemId id, XrSystemProperties *p) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (!p || p->type != XR_TYPE_SYSTEM_PROPERTIES) return XR_ERROR_VALIDATION_FAILURE;
    p->systemId = id;
    p->vendorId = 0;
    snprintf(p->systemName, XR_MAX_SYSTEM_NAME_SIZE, "%s HMD", RUNTIME_NAME);
    p->graphicsProperties.maxSwapchainImageWidth = 8192;
    p->graphicsProperties.maxSwapchainImageHeight = 8192;
    p->graphicsProperties.maxLayerCount = XR_MIN_COMPOSITION_LAYERS_SUPPORTED;
    p->trackingProperties.orientationTracking = XR_TRUE;
    p->trackingProperties.positionTracking = XR_TRUE;
    return XR_SUCCESS;
}

static XrResult rt_xrEnumerateEnvironmentBlendModes(XrInstance instance, XrSystemId id, XrViewConfigurationType vct,
                                                    uint32_t cap, uint32_t *count, XrEnvironmentBlendMode *modes) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (vct != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO) return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    *count = 1;
    if (cap == 0) return XR_SUCCESS;
    modes[0] = XR_ENVIRONMENT_BLEND_MODE_OPAQUE;
    return XR_SUCCESS;
}

static XrResult rt_xrEnumerateViewConfigurations(XrInstance instance, XrSystemId id, uint32_t cap,
                                                 uint32_t *count, XrViewConfigurationType *types) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    *count = 1;
    if (cap == 0) return XR_SUCCESS;
    types[0] = XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO;
    return XR_SUCCESS;
}

static XrResult rt_xrGetViewConfigurationProperties(XrInstance instance, XrSystemId id, XrViewConfigurationType vct,
                                                    XrViewConfigurationProperties *p) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (vct != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO) return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    if (!p || p->type != XR_TYPE_VIEW_CONFIGURATION_PROPERTIES) return XR_ERROR_VALIDATION_FAILURE;
    p->viewConfigurationType = vct;
    p->fovMutable = XR_FALSE;
    return XR_SUCCESS;
}

static XrResult rt_xrEnumerateViewConfigurationViews(XrInstance instance, XrSystemId id, XrViewConfigurationType vct,
                                                     uint32_t cap, uint32_t *count, XrViewConfigurationView *views) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (vct != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO) return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    *count = 2;
    if (cap == 0) return XR_SUCCESS;
    if (cap < 2) return XR_ERROR_SIZE_INSUFFICIENT;
    uint32_t w, h;
    view_size(&w, &h);
    for (int i = 0; i < 2; i++) {
        if (views[i].type != XR_TYPE_VIEW_CONFIGURATION_VIEW) return XR_ERROR_VALIDATION_FAILURE;
        views[i].recommendedImageRectWidth = w;
        views[i].recommendedImageRectHeight = h;
        views[i].maxImageRectWidth = 8192;
        views[i].maxImageRectHeight = 8192;
        views[i].recommendedSwapchainSampleCount = 1;
        views[i].maxSwapchainSampleCount = 1;
    }
    return XR_SUCCESS;
}

/* ---- graphics ---- */
static XrResult rt_xrGetOpenGLGraphicsRequirementsKHR(XrInstance instance, XrSystemId id,
                                                      XrGraphicsRequirementsOpenGLKHR *req) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (id != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (!req || req->type != XR_TYPE_GRAPHICS_REQUIREMENTS_OPENGL_KHR) return XR_ERROR_VALIDATION_FAILURE;
    req->minApiVersionSupported = XR_MAKE_VERSION(3, 3, 0);
    req->maxApiVersionSupported = XR_MAKE_VERSION(4, 6, 0);
    inst->gl_requirements_queried = 1;
    return XR_SUCCESS;
}

static int load_gl(GLFns *gl, GetProcFn get) {
#define LOAD(field, name) gl->field = (typeof(gl->field))get(name); if (!gl->field) return 0;
    LOAD(GenTextures, "glGenTextures");
    LOAD(DeleteTextures, "glDeleteTextures");
    LOAD(BindTexture, "glBindTexture");
    LOAD(TexStorage2D, "glTexStorage2D");
    LOAD(TexStorage3D, "glTexStorage3D");
    LOAD(TexParameteri, "glTexParameteri");
    LOAD(GetIntegerv, "glGetIntegerv");
    LOAD(PixelStorei, "glPixelStorei");
    LOAD(GetTexImage, "glGetTexImage");
    LOAD(GetError, "glGetError");
#undef LOAD
    return 1;
}

static void *glx_get_proc(const char *name) {
    static void *(*glxgpa)(const unsigned char *) = NULL;
    if (!glxgpa) {
        void *lib = dlopen("libGL.so.1", RTLD_NOW | RTLD_GLOBAL);
        if (!lib) return NULL;
        glxgpa = (void *(*)(const unsigned char *))dlsym(lib, "glXGetProcAddressARB");
        if (!glxgpa) return NULL;
    }
    return glxgpa((const unsigned char *)name);
}

static PFNEGLGETPROCADDRESSPROC g_egl_get_proc = NULL;
static void *egl_get_proc(const char *name) { return (void *)g_egl_get_proc(name); }

/* ---- session ---- */
static XrResult rt_xrCreateSession(XrInstance instance, const XrSessionCreateInfo *ci, XrSession *out) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!ci || ci->type != XR_TYPE_SESSION_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    if (ci->systemId != SYSTEM_ID) return XR_ERROR_SYSTEM_INVALID;
    if (inst->session) return XR_ERROR_LIMIT_REACHED; /* one session at a time */
    Session *s = calloc(1, sizeof(Session));
    if (!s) return XR_ERROR_OUT_OF_MEMORY;
    const XrBaseInStructure *b = (const XrBaseInStructure *)ci->next;
    int have_binding = 0;
    for (; b; b = b->next) {
        if (b->type == XR_TYPE_GRAPHICS_BINDING_OPENGL_XLIB_KHR && inst->ext_opengl) {
            const XrGraphicsBindingOpenGLXlibKHR *x = (const XrGraphicsBindingOpenGLXlibKHR *)b;
            if (!x->xDisplay || !x->glxContext) { free(s); return XR_ERROR_GRAPHICS_DEVICE_INVALID; }
            if (!load_gl(&s->gl, glx_get_proc)) { free(s); return XR_ERROR_GRAPHICS_DEVICE_INVALID; }
            have_binding = 1;
            break;
        }
        if (b->type == XR_TYPE_GRAPHICS_BINDING_EGL_MNDX && inst->ext_egl) {
            const XrGraphicsBindingEGLMNDX *e = (const XrGraphicsBindingEGLMNDX *)b;
            if (!e->getProcAddress || !e->display || !e->context) { free(s); return XR_ERROR_GRAPHICS_DEVICE_INVALID; }
            g_egl_get_proc = e->getProcAddress;
            if (!load_gl(&s->gl, egl_get_proc)) { free(s); return XR_ERROR_GRAPHICS_DEVICE_INVALID; }
            have_binding = 1;
            break;
        }
    }
    if (have_binding) {
        if (!inst->gl_requirements_queried) { free(s); return XR_ERROR_GRAPHICS_REQUIREMENTS_CALL_MISSING; }
    } else if (inst->ext_headless) {
        s->headless = 1;
    } else {
        free(s);
        return XR_ERROR_GRAPHICS_DEVICE_INVALID;
    }
    s->magic = MAGIC_SESSION;
    s->inst = inst;
    s->state = XR_SESSION_STATE_UNKNOWN;
    s->reported_profile[0] = s->reported_profile[1] = -1;
    inst->session = s;
    *out = (XrSession)s;
    set_state(s, XR_SESSION_STATE_IDLE);
    set_state(s, XR_SESSION_STATE_READY);
    return XR_SUCCESS;
}

static XrResult rt_xrDestroySession(XrSession session) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    s->inst->session = NULL;
    s->magic = 0;
    free(s->script);
    free(s);
    return XR_SUCCESS;
}

static XrResult rt_xrBeginSession(XrSession session, const XrSessionBeginInfo *bi) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!bi || bi->type != XR_TYPE_SESSION_BEGIN_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (!s->headless && bi->primaryViewConfigurationType != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO)
        return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    if (s->running) return XR_ERROR_SESSION_RUNNING;
    if (s->state != XR_SESSION_STATE_READY) return XR_ERROR_SESSION_NOT_READY;
    s->running = 1;
    s->frame_waited = s->frame_begun = 0;
    s->n_waited = 0;
    return XR_SUCCESS;
}

static XrResult rt_xrEndSession(XrSession session) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (!s->running) return XR_ERROR_SESSION_NOT_RUNNING;
    if (s->state != XR_SESSION_STATE_STOPPING) return XR_ERROR_SESSION_NOT_STOPPING;
    s->running = 0;
    set_state(s, XR_SESSION_STATE_IDLE);
    if (s->exit_requested) set_state(s, XR_SESSION_STATE_EXITING);
    return XR_SUCCESS;
}

static XrResult rt_xrRequestExitSession(XrSession session) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (!s->running) return XR_ERROR_SESSION_NOT_RUNNING;
    s->exit_requested = 1;
    begin_stopping(s);
    return XR_SUCCESS;
}

/* ---- spaces ---- */
static XrResult rt_xrEnumerateReferenceSpaces(XrSession session, uint32_t cap, uint32_t *count,
                                              XrReferenceSpaceType *types) {
    CHECK_HANDLE((Session *)session, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    *count = 3;
    if (cap == 0) return XR_SUCCESS;
    if (cap < 3) return XR_ERROR_SIZE_INSUFFICIENT;
    types[0] = XR_REFERENCE_SPACE_TYPE_VIEW;
    types[1] = XR_REFERENCE_SPACE_TYPE_LOCAL;
    types[2] = XR_REFERENCE_SPACE_TYPE_STAGE;
    return XR_SUCCESS;
}

static XrResult rt_xrCreateReferenceSpace(XrSession session, const XrReferenceSpaceCreateInfo *ci, XrSpace *out) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!ci || ci->type != XR_TYPE_REFERENCE_SPACE_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (ci->referenceSpaceType != XR_REFERENCE_SPACE_TYPE_VIEW && ci->referenceSpaceType != XR_REFERENCE_SPACE_TYPE_LOCAL &&
        ci->referenceSpaceType != XR_REFERENCE_SPACE_TYPE_STAGE)
        return XR_ERROR_REFERENCE_SPACE_UNSUPPORTED;
    if (!quat_valid(ci->poseInReferenceSpace.orientation)) return XR_ERROR_POSE_INVALID;
    Space *sp = calloc(1, sizeof(Space));
    if (!sp) return XR_ERROR_OUT_OF_MEMORY;
    sp->magic = MAGIC_SPACE;
    sp->session = s;
    sp->type = ci->referenceSpaceType;
    sp->offset = ci->poseInReferenceSpace;
    *out = (XrSpace)sp;
    return XR_SUCCESS;
}

static XrResult rt_xrGetReferenceSpaceBoundsRect(XrSession session, XrReferenceSpaceType type, XrExtent2Df *bounds) {
    CHECK_HANDLE((Session *)session, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!bounds) return XR_ERROR_VALIDATION_FAILURE;
    if (type == XR_REFERENCE_SPACE_TYPE_STAGE) {
        bounds->width = 4.0f; bounds->height = 4.0f;
        return XR_SUCCESS;
    }
    if (type == XR_REFERENCE_SPACE_TYPE_VIEW || type == XR_REFERENCE_SPACE_TYPE_LOCAL) {
        bounds->width = 0; bounds->height = 0;
        return XR_SPACE_BOUNDS_UNAVAILABLE;
    }
    return XR_ERROR_REFERENCE_SPACE_UNSUPPORTED;
}

static XrResult rt_xrCreateActionSpace(XrSession session, const XrActionSpaceCreateInfo *ci, XrSpace *out) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!ci || ci->type != XR_TYPE_ACTION_SPACE_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    Action *a = (Action *)ci->action;
    CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
    if (a->type != XR_ACTION_TYPE_POSE_INPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    if (!quat_valid(ci->poseInActionSpace.orientation)) return XR_ERROR_POSE_INVALID;
    int hand = -1;
    if (ci->subactionPath != XR_NULL_PATH) {
        hand = hand_of_path(s->inst, ci->subactionPath);
        if (hand < 0 || !a->sub[hand]) return XR_ERROR_PATH_UNSUPPORTED;
    }
    Space *sp = calloc(1, sizeof(Space));
    if (!sp) return XR_ERROR_OUT_OF_MEMORY;
    sp->magic = MAGIC_SPACE;
    sp->session = s;
    sp->is_action = 1;
    sp->action = a;
    sp->hand = hand;
    sp->offset = ci->poseInActionSpace;
    *out = (XrSpace)sp;
    return XR_SUCCESS;
}

static XrResult rt_xrDestroySpace(XrSpace space) {
    Space *sp = (Space *)space;
    CHECK_HANDLE(sp, MAGIC_SPACE, XR_ERROR_HANDLE_INVALID);
    sp->magic = 0;
    free(sp);
    return XR_SUCCESS;
}

static XrResult rt_xrLocateSpace(XrSpace space, XrSpace baseSpace, XrTime time, XrSpaceLocation *loc) {
    Space *a = (Space *)space, *b = (Space *)baseSpace;
    CHECK_HANDLE(a, MAGIC_SPACE, XR_ERROR_HANDLE_INVALID);
    CHECK_HANDLE(b, MAGIC_SPACE, XR_ERROR_HANDLE_INVALID);
    if (!loc || loc->type != XR_TYPE_SPACE_LOCATION) return XR_ERROR_VALIDATION_FAILURE;
    if (time <= 0) return XR_ERROR_TIME_INVALID;
    if (session_lost(a->session)) return XR_ERROR_SESSION_LOST;
    XrPosef pa, pb;
    if (!space_in_stage(a, time, &pa) || !space_in_stage(b, time, &pb)) {
        loc->locationFlags = 0;
        XrPosef identity = {{0, 0, 0, 1}, {0, 0, 0}};
        loc->pose = identity;
        return XR_SUCCESS;
    }
    loc->pose = pose_mul(pose_inv(pb), pa);
    loc->locationFlags = XR_SPACE_LOCATION_ORIENTATION_VALID_BIT | XR_SPACE_LOCATION_POSITION_VALID_BIT |
                         XR_SPACE_LOCATION_ORIENTATION_TRACKED_BIT | XR_SPACE_LOCATION_POSITION_TRACKED_BIT;
    return XR_SUCCESS;
}

/* ---- views ---- */
static XrResult rt_xrLocateViews(XrSession session, const XrViewLocateInfo *li, XrViewState *vs, uint32_t cap,
                                 uint32_t *count, XrView *views) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!li || li->type != XR_TYPE_VIEW_LOCATE_INFO || !vs || vs->type != XR_TYPE_VIEW_STATE || !count)
        return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (li->viewConfigurationType != XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO)
        return XR_ERROR_VIEW_CONFIGURATION_TYPE_UNSUPPORTED;
    Space *base = (Space *)li->space;
    CHECK_HANDLE(base, MAGIC_SPACE, XR_ERROR_HANDLE_INVALID);
    if (li->displayTime <= 0) return XR_ERROR_TIME_INVALID;
    *count = 2;
    if (cap == 0) return XR_SUCCESS;
    if (cap < 2) return XR_ERROR_SIZE_INSUFFICIENT;
    double ipd = env_double("XR_HEADLESS_IPD_M", 0.063);
    XrPosef head = head_pose(li->displayTime);
    XrPosef base_pose;
    if (!space_in_stage(base, li->displayTime, &base_pose)) {
        vs->viewStateFlags = 0;
        *count = 2;
        return XR_SUCCESS;
    }
    XrPosef base_inv = pose_inv(base_pose);
    for (int i = 0; i < 2; i++) {
        if (views[i].type != XR_TYPE_VIEW) return XR_ERROR_VALIDATION_FAILURE;
        XrPosef eye = {{0, 0, 0, 1}, {(float)((i == 0 ? -0.5 : 0.5) * ipd), 0, 0}};
        views[i].pose = pose_mul(base_inv, pose_mul(head, eye));
        views[i].fov.angleLeft = -0.785398f;
        views[i].fov.angleRight = 0.785398f;
        views[i].fov.angleUp = 0.785398f;
        views[i].fov.angleDown = -0.785398f;
    }
    vs->viewStateFlags = XR_VIEW_STATE_ORIENTATION_VALID_BIT | XR_VIEW_STATE_POSITION_VALID_BIT |
                         XR_VIEW_STATE_ORIENTATION_TRACKED_BIT | XR_VIEW_STATE_POSITION_TRACKED_BIT;
    return XR_SUCCESS;
}

/* ---- swapchains ---- */
static const int64_t k_formats[] = {GL_SRGB8_ALPHA8, GL_RGBA8, GL_RGBA16F, GL_DEPTH_COMPONENT32F,
                                    GL_DEPTH_COMPONENT24, GL_DEPTH_COMPONENT16, GL_DEPTH24_STENCIL8};
#define N_FORMATS (sizeof(k_formats) / sizeof(k_formats[0]))

static XrResult rt_xrEnumerateSwapchainFormats(XrSession session, uint32_t cap, uint32_t *count, int64_t *formats) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    uint32_t n = s->headless ? 0 : N_FORMATS;
    *count = n;
    if (cap == 0) return XR_SUCCESS;
    if (cap < n) return XR_ERROR_SIZE_INSUFFICIENT;
    for (uint32_t i = 0; i < n; i++) formats[i] = k_formats[i];
    return XR_SUCCESS;
}

static XrResult rt_xrCreateSwapchain(XrSession session, const XrSwapchainCreateInfo *ci, XrSwapchain *out) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!ci || ci->type != XR_TYPE_SWAPCHAIN_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (s->headless) return XR_ERROR_FUNCTION_UNSUPPORTED;
    int ok = 0;
    for (uint32_t i = 0; i < N_FORMATS; i++) ok |= (k_formats[i] == ci->format);
    if (!ok) return XR_ERROR_SWAPCHAIN_FORMAT_UNSUPPORTED;
    if (ci->width == 0 || ci->height == 0 || ci->width > 8192 || ci->height > 8192 || ci->arraySize == 0 ||
        ci->mipCount == 0 || ci->faceCount != 1 || ci->sampleCount != 1)
        return XR_ERROR_FEATURE_UNSUPPORTED;
    if (ci->createFlags & XR_SWAPCHAIN_CREATE_PROTECTED_CONTENT_BIT) return XR_ERROR_FEATURE_UNSUPPORTED;
    Swapchain *sc = calloc(1, sizeof(Swapchain));
    if (!sc) return XR_ERROR_OUT_OF_MEMORY;
    sc->magic = MAGIC_SWAPCHAIN;
    sc->session = s;
    sc->info = *ci;
    sc->info.next = NULL;
    sc->last_released = -1;
    GLFns *gl = &s->gl;
    unsigned target = ci->arraySize > 1 ? GL_TEXTURE_2D_ARRAY : GL_TEXTURE_2D;
    int prev = 0;
    gl->GetIntegerv(target == GL_TEXTURE_2D ? GL_TEXTURE_BINDING_2D : GL_TEXTURE_BINDING_2D_ARRAY, &prev);
    gl->GenTextures(NUM_SWAPCHAIN_IMAGES, sc->images);
    for (int i = 0; i < NUM_SWAPCHAIN_IMAGES; i++) {
        gl->BindTexture(target, sc->images[i]);
        if (target == GL_TEXTURE_2D)
            gl->TexStorage2D(target, (int)ci->mipCount, (unsigned)ci->format, (int)ci->width, (int)ci->height);
        else
            gl->TexStorage3D(target, (int)ci->mipCount, (unsigned)ci->format, (int)ci->width, (int)ci->height,
                             (int)ci->arraySize);
        gl->TexParameteri(target, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
        gl->TexParameteri(target, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
        gl->TexParameteri(target, GL_TEXTURE_MAX_LEVEL, (int)ci->mipCount - 1);
    }
    gl->BindTexture(target, (GLuint_t)prev);
    if (gl->GetError() != 0) {
        gl->DeleteTextures(NUM_SWAPCHAIN_IMAGES, sc->images);
        free(sc);
        return XR_ERROR_RUNTIME_FAILURE;
    }
    *out = (XrSwapchain)sc;
    return XR_SUCCESS;
}

static XrResult rt_xrDestroySwapchain(XrSwapchain swapchain) {
    Swapchain *sc = (Swapchain *)swapchain;
    CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
    /* GL objects belong to the application's context; delete them if it is current. */
    sc->session->gl.DeleteTextures(NUM_SWAPCHAIN_IMAGES, sc->images);
    sc->magic = 0;
    free(sc);
    return XR_SUCCESS;
}

static XrResult rt_xrEnumerateSwapchainImages(XrSwapchain swapchain, uint32_t cap, uint32_t *count,
                                              XrSwapchainImageBaseHeader *images) {
    Swapchain *sc = (Swapchain *)swapchain;
    CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    *count = NUM_SWAPCHAIN_IMAGES;
    if (cap == 0) return XR_SUCCESS;
    if (cap < NUM_SWAPCHAIN_IMAGES) return XR_ERROR_SIZE_INSUFFICIENT;
    XrSwapchainImageOpenGLKHR *gl = (XrSwapchainImageOpenGLKHR *)images;
    for (int i = 0; i < NUM_SWAPCHAIN_IMAGES; i++) {
        if (gl[i].type != XR_TYPE_SWAPCHAIN_IMAGE_OPENGL_KHR) return XR_ERROR_VALIDATION_FAILURE;
        gl[i].image = sc->images[i];
    }
    return XR_SUCCESS;
}

static XrResult rt_xrAcquireSwapchainImage(XrSwapchain swapchain, const XrSwapchainImageAcquireInfo *ai,
                                           uint32_t *index) {
    Swapchain *sc = (Swapchain *)swapchain;
    CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
    if (!index || (ai && ai->type != XR_TYPE_SWAPCHAIN_IMAGE_ACQUIRE_INFO)) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(sc->session)) return XR_ERROR_SESSION_LOST;
    if (sc->n_acquired >= NUM_SWAPCHAIN_IMAGES) return XR_ERROR_CALL_ORDER_INVALID;
    if ((sc->info.createFlags & XR_SWAPCHAIN_CREATE_STATIC_IMAGE_BIT) && sc->last_released >= 0)
        return XR_ERROR_CALL_ORDER_INVALID;
    sc->acquired[sc->n_acquired++] = sc->next_index;
    *index = (uint32_t)sc->next_index;
    sc->next_index = (sc->next_index + 1) % NUM_SWAPCHAIN_IMAGES;
    return XR_SUCCESS;
}

static XrResult rt_xrWaitSwapchainImage(XrSwapchain swapchain, const XrSwapchainImageWaitInfo *wi) {
    Swapchain *sc = (Swapchain *)swapchain;
    CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
    if (!wi || wi->type != XR_TYPE_SWAPCHAIN_IMAGE_WAIT_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(sc->session)) return XR_ERROR_SESSION_LOST;
    if (sc->n_acquired == 0 || sc->waited) return XR_ERROR_CALL_ORDER_INVALID;
    sc->waited = 1; /* images are never held by a compositor here: always ready */
    return XR_SUCCESS;
}

static XrResult rt_xrReleaseSwapchainImage(XrSwapchain swapchain, const XrSwapchainImageReleaseInfo *ri) {
    Swapchain *sc = (Swapchain *)swapchain;
    CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
    if (ri && ri->type != XR_TYPE_SWAPCHAIN_IMAGE_RELEASE_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(sc->session)) return XR_ERROR_SESSION_LOST;
    if (sc->n_acquired == 0 || !sc->waited) return XR_ERROR_CALL_ORDER_INVALID;
    sc->last_released = sc->acquired[0];
    memmove(sc->acquired, sc->acquired + 1, sizeof(int) * (size_t)(NUM_SWAPCHAIN_IMAGES - 1));
    sc->n_acquired--;
    sc->waited = 0;
    return XR_SUCCESS;
}

/* ---- frame loop ---- */
static XrResult rt_xrWaitFrame(XrSession session, const XrFrameWaitInfo *wi, XrFrameState *fs) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if ((wi && wi->type != XR_TYPE_FRAME_WAIT_INFO) || !fs || fs->type != XR_TYPE_FRAME_STATE)
        return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (!s->running) return XR_ERROR_SESSION_NOT_RUNNING;
    XrTime now = now_ns();
    /* the earliest frame the application can still make: one period to render after the
       next vsync on the 90 Hz grid; never sooner than one period after the last frame */
    XrTime display = (now / DISPLAY_PERIOD_NS + 1) * DISPLAY_PERIOD_NS + DISPLAY_PERIOD_NS;
    if (s->last_predicted && display < s->last_predicted + DISPLAY_PERIOD_NS)
        display = s->last_predicted + DISPLAY_PERIOD_NS;
    if (!env_long("XR_HEADLESS_NO_PACING", 0)) {
        XrTime wake = display - 2 * DISPLAY_PERIOD_NS;
        if (wake > now) {
            XrTime mono = wake - time_offset_ns();
            struct timespec ts = {(time_t)(mono / 1000000000LL), (long)(mono % 1000000000LL)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
        }
    }
    s->last_predicted = display;
    if (s->n_waited == MAX_TRACKED_FRAMES) {
        memmove(s->waited, s->waited + 1, sizeof(XrTime) * (MAX_TRACKED_FRAMES - 1));
        s->n_waited--;
    }
    s->waited[s->n_waited++] = display;
    s->frame_waited++;
    fs->predictedDisplayTime = display;
    fs->predictedDisplayPeriod = DISPLAY_PERIOD_NS;
    if (s->state == XR_SESSION_STATE_READY && !s->exit_requested) set_state(s, XR_SESSION_STATE_SYNCHRONIZED);
    fs->shouldRender = (s->state == XR_SESSION_STATE_VISIBLE || s->state == XR_SESSION_STATE_FOCUSED) ? XR_TRUE
                                                                                                   : XR_FALSE;
    return XR_SUCCESS;
}

static XrResult rt_xrBeginFrame(XrSession session, const XrFrameBeginInfo *bi) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (bi && bi->type != XR_TYPE_FRAME_BEGIN_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (!s->running) return XR_ERROR_SESSION_NOT_RUNNING;
    if (s->frame_waited == 0) return XR_ERROR_CALL_ORDER_INVALID;
    s->frame_waited--;
    XrResult r = XR_SUCCESS;
    if (s->frame_begun) r = XR_FRAME_DISCARDED; /* previous frame begun but never ended */
    s->frame_begun = 1;
    return r;
}

static int mkdir_p(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') { *p = 0; mkdir(buf, 0755); *p = '/'; }
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* Read back the released image of a swapchain sub-image and write it as a binary PPM (top row first). */
static void capture_view(Session *s, const XrSwapchainSubImage *sub, const char *dir, uint64_t frame, int eye) {
    Swapchain *sc = (Swapchain *)sub->swapchain;
    if (sc->last_released < 0) return;
    int64_t f = sc->info.format;
    if (f != GL_SRGB8_ALPHA8 && f != GL_RGBA8 && f != GL_RGBA16F) return;
    int w = (int)sc->info.width, h = (int)sc->info.height;
    unsigned char *px = malloc((size_t)w * h * 4 * (sc->info.arraySize > 1 ? sc->info.arraySize : 1));
    if (!px) return;
    GLFns *gl = &s->gl;
    unsigned target = sc->info.arraySize > 1 ? GL_TEXTURE_2D_ARRAY : GL_TEXTURE_2D;
    int prev = 0, prev_align = 4;
    gl->GetIntegerv(target == GL_TEXTURE_2D ? GL_TEXTURE_BINDING_2D : GL_TEXTURE_BINDING_2D_ARRAY, &prev);
    gl->GetIntegerv(GL_PACK_ALIGNMENT, &prev_align);
    gl->PixelStorei(GL_PACK_ALIGNMENT, 1);
    gl->BindTexture(target, sc->images[sc->last_released]);
    gl->GetTexImage(target, 0, GL_RGBA, GL_UNSIGNED_BYTE, px);
    gl->BindTexture(target, (GLuint_t)prev);
    gl->PixelStorei(GL_PACK_ALIGNMENT, prev_align);
    const unsigned char *layer = px + (size_t)w * h * 4 * sub->imageArrayIndex;
    int x0 = sub->imageRect.offset.x, y0 = sub->imageRect.offset.y;
    int rw = sub->imageRect.extent.width, rh = sub->imageRect.extent.height;
    if (x0 < 0 || y0 < 0 || rw <= 0 || rh <= 0 || x0 + rw > w || y0 + rh > h) { free(px); return; }
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/frame%06llu_eye%d.ppm", dir, (unsigned long long)frame, eye);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) { free(px); return; }
    fprintf(fp, "P6\n%d %d\n255\n", rw, rh);
    unsigned char *row = malloc((size_t)rw * 3);
    for (int y = rh - 1; y >= 0; y--) { /* GL rows are bottom-up */
        const unsigned char *src = layer + ((size_t)(y0 + y) * w + x0) * 4;
        for (int x = 0; x < rw; x++) { row[3 * x] = src[4 * x]; row[3 * x + 1] = src[4 * x + 1]; row[3 * x + 2] = src[4 * x + 2]; }
        fwrite(row, 1, (size_t)rw * 3, fp);
    }
    free(row);
    fclose(fp);
    rename(tmp, path);
    free(px);
}

static XrResult rt_xrEndFrame(XrSession session, const XrFrameEndInfo *ei) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!ei || ei->type != XR_TYPE_FRAME_END_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    if (!s->running) return XR_ERROR_SESSION_NOT_RUNNING;
    if (!s->frame_begun) return XR_ERROR_CALL_ORDER_INVALID;
    int known = 0;
    for (int i = 0; i < s->n_waited; i++) known |= (s->waited[i] == ei->displayTime);
    if (!known) return XR_ERROR_TIME_INVALID;
    if (ei->environmentBlendMode != XR_ENVIRONMENT_BLEND_MODE_OPAQUE) return XR_ERROR_ENVIRONMENT_BLEND_MODE_UNSUPPORTED;
    if (ei->layerCount > XR_MIN_COMPOSITION_LAYERS_SUPPORTED) return XR_ERROR_LAYER_LIMIT_EXCEEDED;
    for (uint32_t i = 0; i < ei->layerCount; i++) {
        const XrCompositionLayerBaseHeader *l = ei->layers[i];
        if (!l) return XR_ERROR_LAYER_INVALID;
        CHECK_HANDLE((Space *)l->space, MAGIC_SPACE, XR_ERROR_HANDLE_INVALID);
        if (l->type == XR_TYPE_COMPOSITION_LAYER_PROJECTION) {
            const XrCompositionLayerProjection *p = (const XrCompositionLayerProjection *)l;
            if (p->viewCount != 2) return XR_ERROR_VALIDATION_FAILURE;
            for (uint32_t v = 0; v < 2; v++) {
                Swapchain *sc = (Swapchain *)p->views[v].subImage.swapchain;
                CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
                if (sc->last_released < 0) return XR_ERROR_LAYER_INVALID;
                if (!quat_valid(p->views[v].pose.orientation)) return XR_ERROR_POSE_INVALID;
                if (p->views[v].subImage.imageArrayIndex >= sc->info.arraySize) return XR_ERROR_VALIDATION_FAILURE;
                const XrRect2Di *r = &p->views[v].subImage.imageRect;
                if (r->offset.x < 0 || r->offset.y < 0 || r->extent.width <= 0 || r->extent.height <= 0 ||
                    (uint32_t)(r->offset.x + r->extent.width) > sc->info.width ||
                    (uint32_t)(r->offset.y + r->extent.height) > sc->info.height)
                    return XR_ERROR_SWAPCHAIN_RECT_INVALID;
            }
        } else if (l->type == XR_TYPE_COMPOSITION_LAYER_QUAD) {
            const XrCompositionLayerQuad *q = (const XrCompositionLayerQuad *)l;
            Swapchain *sc = (Swapchain *)q->subImage.swapchain;
            CHECK_HANDLE(sc, MAGIC_SWAPCHAIN, XR_ERROR_HANDLE_INVALID);
            if (sc->last_released < 0) return XR_ERROR_LAYER_INVALID;
        } else {
            return XR_ERROR_LAYER_INVALID;
        }
    }
    s->frame_begun = 0;
    uint64_t frame = s->frames_submitted++;

    const char *dir = getenv("XR_HEADLESS_CAPTURE_DIR");
    long every = env_long("XR_HEADLESS_CAPTURE_EVERY", 1);
    if (dir && *dir && every > 0 && frame % (uint64_t)every == 0 && mkdir_p(dir)) {
        for (uint32_t i = 0; i < ei->layerCount; i++) {
            if (ei->layers[i]->type != XR_TYPE_COMPOSITION_LAYER_PROJECTION) continue;
            const XrCompositionLayerProjection *p = (const XrCompositionLayerProjection *)ei->layers[i];
            for (uint32_t v = 0; v < 2; v++) capture_view(s, &p->views[v].subImage, dir, frame, (int)v);
            break;
        }
    }
    const char *log = getenv("XR_HEADLESS_LOG");
    if (log && *log) {
        FILE *fp = fopen(log, "a");
        if (fp) {
            fprintf(fp, "{\"frame\": %llu, \"display_time_ns\": %lld, \"submitted_ns\": %lld, \"layers\": %u",
                    (unsigned long long)frame, (long long)ei->displayTime, (long long)now_ns(), ei->layerCount);
            for (uint32_t i = 0; i < ei->layerCount; i++) {
                if (ei->layers[i]->type != XR_TYPE_COMPOSITION_LAYER_PROJECTION) continue;
                const XrCompositionLayerProjection *p = (const XrCompositionLayerProjection *)ei->layers[i];
                fprintf(fp, ", \"view_x_m\": [%.5f, %.5f]", p->views[0].pose.position.x, p->views[1].pose.position.x);
                break;
            }
            fprintf(fp, "}\n");
            fclose(fp);
        }
    }

    /* state progression: the first submitted frame makes the session visible and focused */
    if (s->state == XR_SESSION_STATE_SYNCHRONIZED && !s->exit_requested) {
        set_state(s, XR_SESSION_STATE_VISIBLE);
        set_state(s, XR_SESSION_STATE_FOCUSED);
    }
    long fail_after = env_long("XR_HEADLESS_FAIL_AFTER_FRAMES", 0);
    if (fail_after > 0 && s->frames_submitted >= (uint64_t)fail_after) return XR_ERROR_RUNTIME_FAILURE;
    long loss_after = env_long("XR_HEADLESS_LOSS_AFTER_FRAMES", 0);
    if (loss_after > 0 && s->frames_submitted >= (uint64_t)loss_after && !s->loss_pending) {
        set_state(s, XR_SESSION_STATE_LOSS_PENDING);
        s->loss_pending = 1;
        return XR_SESSION_LOSS_PENDING;
    }
    long exit_after = env_long("XR_HEADLESS_EXIT_AFTER_FRAMES", 0);
    if (exit_after > 0 && s->frames_submitted >= (uint64_t)exit_after && !s->exit_requested) {
        s->exit_requested = 1; /* the runtime asks the application to exit */
        begin_stopping(s);
    }
    return XR_SUCCESS;
}

/* ---- paths ---- */
static XrResult rt_xrStringToPath(XrInstance instance, const char *str, XrPath *path) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!str || !path) return XR_ERROR_VALIDATION_FAILURE;
    size_t n = strlen(str);
    if (n == 0 || n >= XR_MAX_PATH_LENGTH || str[0] != '/' || str[n - 1] == '/') return XR_ERROR_PATH_FORMAT_INVALID;
    for (size_t i = 0; i < n; i++) {
        char c = str[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '/';
        if (!ok) return XR_ERROR_PATH_FORMAT_INVALID;
        if (c == '/' && i + 1 < n && str[i + 1] == '/') return XR_ERROR_PATH_FORMAT_INVALID;
    }
    for (int i = 0; i < inst->n_paths; i++)
        if (!strcmp(inst->paths[i], str)) { *path = (XrPath)(i + 1); return XR_SUCCESS; }
    if (inst->n_paths == MAX_PATHS) return XR_ERROR_PATH_COUNT_EXCEEDED;
    inst->paths[inst->n_paths] = strdup(str);
    *path = (XrPath)(++inst->n_paths);
    return XR_SUCCESS;
}

static XrResult rt_xrPathToString(XrInstance instance, XrPath path, uint32_t cap, uint32_t *count, char *buffer) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!count) return XR_ERROR_VALIDATION_FAILURE;
    if (path == XR_NULL_PATH || path > (XrPath)inst->n_paths) return XR_ERROR_PATH_INVALID;
    const char *s = inst->paths[path - 1];
    uint32_t need = (uint32_t)strlen(s) + 1;
    *count = need;
    if (cap == 0) return XR_SUCCESS;
    if (cap < need) return XR_ERROR_SIZE_INSUFFICIENT;
    memcpy(buffer, s, need);
    return XR_SUCCESS;
}

/* ---- actions and scripted controllers ----
 *
 * Interaction profiles and their input/output paths, exactly as the OpenXR registry lists
 * them (KhronosGroup/OpenXR-Docs @ 9b6424730599568cd630255cbe6c07161bd53cd0,
 * specification/registry/xr.xml: khr/simple_controller lines 12386-12394, htc/vive_controller
 * 12409-12424, oculus/touch_controller 12501-12526, valve/index_controller 12528-12553,
 * ext/hand_interaction_ext 13111-13123). A suggested binding whose path is not listed for its
 * profile (and hand) fails with XR_ERROR_PATH_UNSUPPORTED, so a typo in an application's
 * bindings fails its tests here rather than silently on a headset. */
typedef struct ProfileComponent { const char *path; int hand; /* -1 both, 0 left, 1 right */ } ProfileComponent;
typedef struct Profile { const char *name; int needs_hand_interaction; const ProfileComponent *components; } Profile;
static const ProfileComponent k_simple[] = {
    {"/input/select/click", -1}, {"/input/menu/click", -1}, {"/input/grip/pose", -1}, {"/input/aim/pose", -1},
    {"/output/haptic", -1}, {NULL, 0}};
static const ProfileComponent k_vive[] = {
    {"/input/system/click", -1}, {"/input/squeeze/click", -1}, {"/input/menu/click", -1},
    {"/input/trigger/click", -1}, {"/input/trigger/value", -1}, {"/input/trackpad", -1}, {"/input/trackpad/x", -1},
    {"/input/trackpad/y", -1}, {"/input/trackpad/click", -1}, {"/input/trackpad/touch", -1},
    {"/input/grip/pose", -1}, {"/input/aim/pose", -1}, {"/output/haptic", -1}, {NULL, 0}};
static const ProfileComponent k_touch[] = {
    {"/input/x/click", 0}, {"/input/x/touch", 0}, {"/input/y/click", 0}, {"/input/y/touch", 0},
    {"/input/menu/click", 0}, {"/input/a/click", 1}, {"/input/a/touch", 1}, {"/input/b/click", 1},
    {"/input/b/touch", 1}, {"/input/system/click", 1}, {"/input/squeeze/value", -1}, {"/input/trigger/value", -1},
    {"/input/trigger/touch", -1}, {"/input/thumbstick", -1}, {"/input/thumbstick/x", -1},
    {"/input/thumbstick/y", -1}, {"/input/thumbstick/click", -1}, {"/input/thumbstick/touch", -1},
    {"/input/thumbrest/touch", -1}, {"/input/grip/pose", -1}, {"/input/aim/pose", -1}, {"/output/haptic", -1},
    {NULL, 0}};
static const ProfileComponent k_index[] = {
    {"/input/system/click", -1}, {"/input/system/touch", -1}, {"/input/a/click", -1}, {"/input/a/touch", -1},
    {"/input/b/click", -1}, {"/input/b/touch", -1}, {"/input/squeeze/value", -1}, {"/input/squeeze/force", -1},
    {"/input/trigger/click", -1}, {"/input/trigger/value", -1}, {"/input/trigger/touch", -1},
    {"/input/thumbstick", -1}, {"/input/thumbstick/x", -1}, {"/input/thumbstick/y", -1},
    {"/input/thumbstick/click", -1}, {"/input/thumbstick/touch", -1}, {"/input/trackpad", -1},
    {"/input/trackpad/x", -1}, {"/input/trackpad/y", -1}, {"/input/trackpad/force", -1},
    {"/input/trackpad/touch", -1}, {"/input/grip/pose", -1}, {"/input/aim/pose", -1}, {"/output/haptic", -1},
    {NULL, 0}};
static const ProfileComponent k_hand_ext[] = {
    {"/input/pinch_ext/pose", -1}, {"/input/poke_ext/pose", -1}, {"/input/grip/pose", -1}, {"/input/aim/pose", -1},
    {"/input/pinch_ext/value", -1}, {"/input/pinch_ext/ready_ext", -1}, {"/input/grasp_ext/value", -1},
    {"/input/grasp_ext/ready_ext", -1}, {"/input/aim_activate_ext/value", -1},
    {"/input/aim_activate_ext/ready_ext", -1}, {NULL, 0}};
static const Profile k_profiles[] = {
    {"/interaction_profiles/khr/simple_controller", 0, k_simple},
    {"/interaction_profiles/htc/vive_controller", 0, k_vive},
    {"/interaction_profiles/oculus/touch_controller", 0, k_touch},
    {"/interaction_profiles/valve/index_controller", 0, k_index},
    {"/interaction_profiles/ext/hand_interaction_ext", 1, k_hand_ext},
};
#define N_PROFILES ((int)(sizeof(k_profiles) / sizeof(k_profiles[0])))
static const char *k_hands[2] = {"/user/hand/left", "/user/hand/right"};

static int profile_index(const char *name) {
    for (int i = 0; i < N_PROFILES; i++) if (!strcmp(k_profiles[i].name, name)) return i;
    return -1;
}
static const char *path_str(Instance *inst, XrPath p) {
    return (p == XR_NULL_PATH || p > (XrPath)inst->n_paths) ? NULL : inst->paths[p - 1];
}
static int hand_of_path(Instance *inst, XrPath p) { /* 0 left, 1 right, -1 other */
    const char *s = path_str(inst, p);
    if (!s) return -1;
    for (int h = 0; h < 2; h++) if (!strcmp(s, k_hands[h])) return h;
    return -1;
}
/* Is `component` (a path below the hand) listed for `profile` and `hand`? A bare identifier
 * ("/input/trigger") is accepted when one of its components is listed, as the spec allows. */
static int component_listed(int profile, int hand, const char *component) {
    size_t n = strlen(component);
    for (const ProfileComponent *c = k_profiles[profile].components; c->path; c++) {
        if (c->hand >= 0 && c->hand != hand) continue;
        if (!strcmp(c->path, component)) return 1;
        if (!strncmp(c->path, component, n) && c->path[n] == '/') return 1;
    }
    return 0;
}

static const char *json_value(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ' || *p == '\t') p++;
    return p;
}
static int json_numbers(const char *p, float *out, int n) { /* [a, b, ...] -> count read */
    if (!p || *p != '[') return 0;
    p++;
    int k = 0;
    while (k < n) {
        char *end = NULL;
        double d = strtod(p, &end);
        if (end == p) break;
        out[k++] = (float)d;
        p = end;
        while (*p == ' ' || *p == ',') p++;
    }
    return k;
}
static int json_scalar(const char *p, float *out) {
    if (!p) return 0;
    if (!strncmp(p, "true", 4)) { *out = 1; return 1; }
    if (!strncmp(p, "false", 5)) { *out = 0; return 1; }
    char *end = NULL;
    double d = strtod(p, &end);
    if (end == p) return 0;
    *out = (float)d;
    return 1;
}
static int json_pose(const char *p, XrPosef *out) {
    float a[7] = {0, 0, 0, 0, 0, 0, 1};
    int n = json_numbers(p, a, 7);
    if (n != 3 && n != 7) return 0;
    float norm = sqrtf(a[3] * a[3] + a[4] * a[4] + a[5] * a[5] + a[6] * a[6]);
    if (norm < 1e-6f) return 0;
    XrPosef r = {{a[3] / norm, a[4] / norm, a[5] / norm, a[6] / norm}, {a[0], a[1], a[2]}};
    *out = r;
    return 1;
}

/* Read XR_HEADLESS_INPUT_SCRIPT; a line it cannot use is reported on stderr and skipped. */
static int load_input_script(InputKey **out) {
    const char *path = getenv("XR_HEADLESS_INPUT_SCRIPT");
    *out = NULL;
    if (!path || !*path) return 0;
    FILE *fp = fopen(path, "r");
    if (!fp) { fprintf(stderr, "vr-study headless: XR_HEADLESS_INPUT_SCRIPT=%s cannot be read\n", path); return 0; }
    int cap = 64, n = 0, lineno = 0;
    InputKey *keys = calloc((size_t)cap, sizeof(InputKey));
    char line[4096];
    long last_frame = -1;
    while (keys && fgets(line, sizeof(line), fp)) {
        lineno++;
        const char *t = line;
        while (*t == ' ' || *t == '\t') t++;
        if (*t == '\n' || *t == 0 || *t == '#') continue;
        InputKey k;
        memset(&k, 0, sizeof(k));
        float f;
        const char *v = json_value(line, "frame"), *h = json_value(line, "hand");
        if (!json_scalar(v, &f) || f < 0 || !h || (strncmp(h, "\"left\"", 6) && strncmp(h, "\"right\"", 7))) {
            fprintf(stderr, "vr-study headless: %s:%d: needs \"frame\" (>= 0) and \"hand\" (\"left\" or \"right\")\n",
                    path, lineno);
            continue;
        }
        k.frame = (long)f;
        if (k.frame < last_frame) {
            fprintf(stderr, "vr-study headless: %s:%d: frames must not decrease\n", path, lineno);
            continue;
        }
        last_frame = k.frame;
        k.hand = strncmp(h, "\"left\"", 6) ? 1 : 0;
        if ((v = json_value(line, "profile")) && *v == '"') {
            const char *e = strchr(v + 1, '"');
            size_t len = e ? (size_t)(e - v - 1) : 0;
            if (len >= sizeof(k.profile)) len = sizeof(k.profile) - 1;
            memcpy(k.profile, v + 1, len);
            k.mask |= KEY_PROFILE;
        } else if (v && !strncmp(v, "null", 4)) {
            k.mask |= KEY_PROFILE; /* controller gone */
        }
        if ((v = json_value(line, "aim")) && json_pose(v, &k.aim)) k.mask |= KEY_AIM;
        if ((v = json_value(line, "grip")) && json_pose(v, &k.grip)) k.mask |= KEY_GRIP;
        if (json_scalar(json_value(line, "select"), &k.select)) k.mask |= KEY_SELECT;
        if (json_scalar(json_value(line, "squeeze"), &k.squeeze)) k.mask |= KEY_SQUEEZE;
        if (json_numbers(json_value(line, "thumbstick"), k.thumb, 2) == 2) k.mask |= KEY_THUMB;
        if (json_scalar(json_value(line, "tracked"), &f) && f == 0) k.mask |= KEY_UNTRACK;
        if (n == cap) {
            InputKey *bigger = realloc(keys, sizeof(InputKey) * (size_t)cap * 2);
            if (!bigger) break;
            keys = bigger;
            cap *= 2;
        }
        keys[n++] = k;
    }
    fclose(fp);
    *out = keys;
    return n;
}

/* ---- actions ---- */
static XrResult rt_xrCreateActionSet(XrInstance instance, const XrActionSetCreateInfo *ci, XrActionSet *out) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!ci || ci->type != XR_TYPE_ACTION_SET_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    if (ci->actionSetName[0] == 0) return XR_ERROR_NAME_INVALID;
    if (ci->localizedActionSetName[0] == 0) return XR_ERROR_LOCALIZED_NAME_INVALID;
    ActionSet *as = calloc(1, sizeof(ActionSet));
    if (!as) return XR_ERROR_OUT_OF_MEMORY;
    as->magic = MAGIC_ACTIONSET;
    as->inst = inst;
    *out = (XrActionSet)as;
    return XR_SUCCESS;
}
static void forget_action(Instance *inst, Action *a) {
    int w = 0;
    for (int i = 0; i < inst->n_bindings; i++)
        if (inst->bindings[i].action != a) inst->bindings[w++] = inst->bindings[i];
    inst->n_bindings = w;
    for (int i = 0; i < inst->n_actions; i++)
        if (inst->actions[i] == a) { inst->actions[i] = inst->actions[--inst->n_actions]; break; }
}
static XrResult rt_xrDestroyActionSet(XrActionSet actionSet) {
    ActionSet *as = (ActionSet *)actionSet;
    CHECK_HANDLE(as, MAGIC_ACTIONSET, XR_ERROR_HANDLE_INVALID);
    for (int i = as->inst->n_actions - 1; i >= 0; i--) { /* its actions go with it */
        Action *a = as->inst->actions[i];
        if (a->set != as) continue;
        forget_action(as->inst, a);
        a->magic = 0;
        free(a);
    }
    as->magic = 0;
    free(as);
    return XR_SUCCESS;
}
static XrResult rt_xrCreateAction(XrActionSet actionSet, const XrActionCreateInfo *ci, XrAction *out) {
    ActionSet *as = (ActionSet *)actionSet;
    CHECK_HANDLE(as, MAGIC_ACTIONSET, XR_ERROR_HANDLE_INVALID);
    if (!ci || ci->type != XR_TYPE_ACTION_CREATE_INFO || !out) return XR_ERROR_VALIDATION_FAILURE;
    if (as->attached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
    if (ci->actionName[0] == 0) return XR_ERROR_NAME_INVALID;
    if (ci->localizedActionName[0] == 0) return XR_ERROR_LOCALIZED_NAME_INVALID;
    if (ci->countSubactionPaths > 2) return XR_ERROR_PATH_UNSUPPORTED;
    if (as->inst->n_actions == MAX_ACTIONS) return XR_ERROR_LIMIT_REACHED;
    Action *a = calloc(1, sizeof(Action));
    if (!a) return XR_ERROR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < ci->countSubactionPaths; i++) {
        int h = hand_of_path(as->inst, ci->subactionPaths[i]);
        if (h < 0) { free(a); return XR_ERROR_PATH_UNSUPPORTED; } /* this runtime has hands only */
        a->sub[h] = 1;
    }
    a->n_sub = (int)ci->countSubactionPaths;
    a->magic = MAGIC_ACTION;
    a->set = as;
    a->type = ci->actionType;
    as->inst->actions[as->inst->n_actions++] = a;
    *out = (XrAction)a;
    return XR_SUCCESS;
}
static XrResult rt_xrDestroyAction(XrAction action) {
    Action *a = (Action *)action;
    CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
    forget_action(a->set->inst, a);
    a->magic = 0;
    free(a);
    return XR_SUCCESS;
}
static XrResult rt_xrSuggestInteractionProfileBindings(XrInstance instance,
                                                       const XrInteractionProfileSuggestedBinding *sb) {
    Instance *inst = (Instance *)instance;
    CHECK_HANDLE(inst, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!sb || sb->type != XR_TYPE_INTERACTION_PROFILE_SUGGESTED_BINDING) return XR_ERROR_VALIDATION_FAILURE;
    const char *pname = path_str(inst, sb->interactionProfile);
    if (!pname) return XR_ERROR_PATH_INVALID;
    int prof = profile_index(pname);
    if (prof < 0 || (k_profiles[prof].needs_hand_interaction && !inst->ext_hand_interaction))
        return XR_ERROR_PATH_UNSUPPORTED;
    if (sb->countSuggestedBindings == 0 || !sb->suggestedBindings) return XR_ERROR_VALIDATION_FAILURE;
    for (uint32_t i = 0; i < sb->countSuggestedBindings; i++) {
        Action *a = (Action *)sb->suggestedBindings[i].action;
        CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
        if (a->set->attached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
        const char *b = path_str(inst, sb->suggestedBindings[i].binding);
        if (!b) return XR_ERROR_PATH_INVALID;
        int hand = -1;
        for (int h = 0; h < 2; h++) {
            size_t n = strlen(k_hands[h]);
            if (!strncmp(b, k_hands[h], n) && b[n] == '/') hand = h;
        }
        if (hand < 0 || !component_listed(prof, hand, b + strlen(k_hands[hand]))) {
            fprintf(stderr, "vr-study headless: %s does not list %s\n", pname, b);
            return XR_ERROR_PATH_UNSUPPORTED;
        }
    }
    /* valid: these replace the profile's earlier suggestions */
    int w = 0;
    for (int i = 0; i < inst->n_bindings; i++)
        if (inst->bindings[i].profile != prof) inst->bindings[w++] = inst->bindings[i];
    inst->n_bindings = w;
    for (uint32_t i = 0; i < sb->countSuggestedBindings && inst->n_bindings < MAX_BINDINGS; i++) {
        Binding *bd = &inst->bindings[inst->n_bindings++];
        const char *b = path_str(inst, sb->suggestedBindings[i].binding);
        bd->profile = prof;
        bd->action = (Action *)sb->suggestedBindings[i].action;
        bd->hand = strncmp(b, k_hands[0], strlen(k_hands[0])) ? 1 : 0;
        snprintf(bd->component, sizeof(bd->component), "%s", b + strlen(k_hands[bd->hand]));
    }
    return XR_SUCCESS;
}
static XrResult rt_xrAttachSessionActionSets(XrSession session, const XrSessionActionSetsAttachInfo *ai) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!ai || ai->type != XR_TYPE_SESSION_ACTION_SETS_ATTACH_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (s->actions_attached) return XR_ERROR_ACTIONSETS_ALREADY_ATTACHED;
    for (uint32_t i = 0; i < ai->countActionSets; i++) {
        ActionSet *as = (ActionSet *)ai->actionSets[i];
        CHECK_HANDLE(as, MAGIC_ACTIONSET, XR_ERROR_HANDLE_INVALID);
        as->attached = 1;
    }
    s->actions_attached = 1;
    free(s->script);
    s->n_script = load_input_script(&s->script);
    s->next_key = 0;
    return XR_SUCCESS;
}

/* The profile now in use by `hand`: the scripted one when the application suggested
 * bindings for it (runtimes only pick profiles the application knows), else none (-1). */
static int current_profile(Session *s, int hand) {
    int p = profile_index(s->hands[hand].profile);
    if (p < 0) return -1;
    for (int i = 0; i < s->inst->n_bindings; i++)
        if (s->inst->bindings[i].profile == p && s->inst->bindings[i].action->set->attached) return p;
    return -1;
}

/* What one bound component of `hand` reads now: a float (buttons, triggers, axes), a 2D
 * vector (thumbstick, trackpad) or a pose. */
static void read_component(const HandState *hs, const char *c, float v[2], XrPosef *pose, int *pose_valid) {
    v[0] = v[1] = 0;
    *pose_valid = 0;
    size_t n = strlen(c);
    if (n >= 5 && !strcmp(c + n - 5, "/pose")) {
        int grip = !strncmp(c, "/input/grip/", 12);
        *pose = grip ? hs->grip : hs->aim;
        *pose_valid = grip ? hs->grip_valid : hs->aim_valid;
        return;
    }
    if (!strncmp(c, "/input/thumbstick", 17) || !strncmp(c, "/input/trackpad", 15)) {
        const char *tail = strrchr(c, '/');
        if (!strcmp(tail, "/x")) v[0] = hs->thumb[0];
        else if (!strcmp(tail, "/y")) v[0] = hs->thumb[1];
        else if (!strcmp(tail, "/touch")) v[0] = (hs->thumb[0] != 0 || hs->thumb[1] != 0);
        else if (!strcmp(tail, "/thumbstick") || !strcmp(tail, "/trackpad")) { v[0] = hs->thumb[0]; v[1] = hs->thumb[1]; }
        return;
    }
    if (strstr(c, "/ready_ext")) { v[0] = 1; return; }
    if (!strncmp(c, "/input/select/", 14) || !strncmp(c, "/input/trigger", 14) ||
        !strncmp(c, "/input/pinch_ext", 16) || !strncmp(c, "/input/aim_activate_ext", 23)) {
        v[0] = strstr(c, "/touch") ? (hs->select > 0) : hs->select;
        return;
    }
    if (!strncmp(c, "/input/squeeze", 14) || !strncmp(c, "/input/grasp_ext", 16)) v[0] = hs->squeeze;
}

/* Evaluate `a` for `hand` under the current bindings. */
static ActionValue eval_action(Session *s, Action *a, int hand) {
    ActionValue r;
    memset(&r, 0, sizeof(r));
    r.pose.orientation.w = 1;
    int prof = current_profile(s, hand);
    if (prof < 0) return r;
    for (int i = 0; i < s->inst->n_bindings; i++) {
        Binding *b = &s->inst->bindings[i];
        if (b->profile != prof || b->action != a || b->hand != hand) continue;
        float v[2];
        XrPosef pose;
        int pv;
        read_component(&s->hands[hand], b->component, v, &pose, &pv);
        if (!r.active) { r.v[0] = v[0]; r.v[1] = v[1]; }
        else if (a->type == XR_ACTION_TYPE_VECTOR2F_INPUT) {
            if (v[0] * v[0] + v[1] * v[1] > r.v[0] * r.v[0] + r.v[1] * r.v[1]) { r.v[0] = v[0]; r.v[1] = v[1]; }
        } else if (fabsf(v[0]) > fabsf(r.v[0])) r.v[0] = v[0];
        if (pv && !r.pose_valid) { r.pose = pose; r.pose_valid = 1; }
        r.active = 1;
    }
    if (a->type == XR_ACTION_TYPE_BOOLEAN_INPUT) r.v[0] = r.v[0] > 0.5f ? 1.0f : 0.0f; /* float -> boolean threshold */
    return r;
}

static int profile_path(Instance *inst, int prof, XrPath *out);

static XrResult rt_xrGetCurrentInteractionProfile(XrSession session, XrPath topLevelUserPath,
                                                  XrInteractionProfileState *st) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!st || st->type != XR_TYPE_INTERACTION_PROFILE_STATE) return XR_ERROR_VALIDATION_FAILURE;
    if (!s->actions_attached) return XR_ERROR_ACTIONSET_NOT_ATTACHED;
    const char *top = path_str(s->inst, topLevelUserPath);
    if (!top) return XR_ERROR_PATH_INVALID;
    st->interactionProfile = XR_NULL_PATH;
    int h = hand_of_path(s->inst, topLevelUserPath);
    if (h < 0) {
        if (!strcmp(top, "/user/head") || !strcmp(top, "/user/gamepad")) return XR_SUCCESS;
        return XR_ERROR_PATH_UNSUPPORTED;
    }
    int prof = s->reported_profile[h];
    if (prof >= 0 && !profile_path(s->inst, prof, &st->interactionProfile)) return XR_ERROR_PATH_COUNT_EXCEEDED;
    return XR_SUCCESS;
}

/* Get the state of `gi->action` for its subaction path (NULL: both hands combined). */
static XrResult action_state(Session *s, const XrActionStateGetInfo *gi, XrActionType want, ActionValue *out,
                             ActionValue *prev) {
    Action *a = (Action *)gi->action;
    CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
    if (!a->set->attached) return XR_ERROR_ACTIONSET_NOT_ATTACHED;
    if (a->type != want) return XR_ERROR_ACTION_TYPE_MISMATCH;
    memset(out, 0, sizeof(*out));
    memset(prev, 0, sizeof(*prev));
    if (gi->subactionPath != XR_NULL_PATH) {
        int h = hand_of_path(s->inst, gi->subactionPath);
        if (h < 0 || !a->sub[h]) return XR_ERROR_PATH_UNSUPPORTED;
        *out = a->cur[h];
        *prev = a->prev[h];
        return XR_SUCCESS;
    }
    for (int h = 0; h < 2; h++) { /* combined: the largest magnitude, active if any is */
        ActionValue c = a->cur[h], p = a->prev[h];
        if (!c.active) continue;
        if (!out->active || fabsf(c.v[0]) + fabsf(c.v[1]) > fabsf(out->v[0]) + fabsf(out->v[1])) {
            *out = c;
            *prev = p;
        }
    }
    return XR_SUCCESS;
}
#define ACTION_STATE_HEAD(T, TYPE)                                                                \
    Session *s = (Session *)session;                                                              \
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);                                      \
    if (!gi || gi->type != XR_TYPE_ACTION_STATE_GET_INFO || !state || state->type != TYPE)        \
        return XR_ERROR_VALIDATION_FAILURE;                                                       \
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;                                            \
    void *next = state->next;                                                                     \
    memset(state, 0, sizeof(*state));                                                             \
    state->type = TYPE;                                                                           \
    state->next = next;                                                                           \
    ActionValue cur, prev;
static XrResult rt_xrGetActionStateBoolean(XrSession session, const XrActionStateGetInfo *gi,
                                           XrActionStateBoolean *state) {
    ACTION_STATE_HEAD(XrActionStateBoolean, XR_TYPE_ACTION_STATE_BOOLEAN)
    XrResult r = action_state(s, gi, XR_ACTION_TYPE_BOOLEAN_INPUT, &cur, &prev);
    if (r != XR_SUCCESS) return r;
    state->isActive = cur.active ? XR_TRUE : XR_FALSE;
    state->currentState = cur.active && cur.v[0] > 0.5f ? XR_TRUE : XR_FALSE;
    state->changedSinceLastSync = (cur.active && prev.active && (cur.v[0] > 0.5f) != (prev.v[0] > 0.5f)) ? XR_TRUE
                                                                                                       : XR_FALSE;
    state->lastChangeTime = cur.active ? cur.change_time : 0;
    return XR_SUCCESS;
}
static XrResult rt_xrGetActionStateFloat(XrSession session, const XrActionStateGetInfo *gi, XrActionStateFloat *state) {
    ACTION_STATE_HEAD(XrActionStateFloat, XR_TYPE_ACTION_STATE_FLOAT)
    XrResult r = action_state(s, gi, XR_ACTION_TYPE_FLOAT_INPUT, &cur, &prev);
    if (r != XR_SUCCESS) return r;
    state->isActive = cur.active ? XR_TRUE : XR_FALSE;
    state->currentState = cur.active ? cur.v[0] : 0;
    state->changedSinceLastSync = (cur.active && prev.active && cur.v[0] != prev.v[0]) ? XR_TRUE : XR_FALSE;
    state->lastChangeTime = cur.active ? cur.change_time : 0;
    return XR_SUCCESS;
}
static XrResult rt_xrGetActionStateVector2f(XrSession session, const XrActionStateGetInfo *gi,
                                            XrActionStateVector2f *state) {
    ACTION_STATE_HEAD(XrActionStateVector2f, XR_TYPE_ACTION_STATE_VECTOR2F)
    XrResult r = action_state(s, gi, XR_ACTION_TYPE_VECTOR2F_INPUT, &cur, &prev);
    if (r != XR_SUCCESS) return r;
    state->isActive = cur.active ? XR_TRUE : XR_FALSE;
    state->currentState.x = cur.active ? cur.v[0] : 0;
    state->currentState.y = cur.active ? cur.v[1] : 0;
    state->changedSinceLastSync = (cur.active && prev.active && (cur.v[0] != prev.v[0] || cur.v[1] != prev.v[1]))
                                      ? XR_TRUE : XR_FALSE;
    state->lastChangeTime = cur.active ? cur.change_time : 0;
    return XR_SUCCESS;
}
static XrResult rt_xrGetActionStatePose(XrSession session, const XrActionStateGetInfo *gi, XrActionStatePose *state) {
    ACTION_STATE_HEAD(XrActionStatePose, XR_TYPE_ACTION_STATE_POSE)
    XrResult r = action_state(s, gi, XR_ACTION_TYPE_POSE_INPUT, &cur, &prev);
    if (r != XR_SUCCESS) return r;
    state->isActive = cur.active ? XR_TRUE : XR_FALSE;
    return XR_SUCCESS;
}

static int profile_path(Instance *inst, int prof, XrPath *out) {
    const char *name = k_profiles[prof].name;
    for (int i = 0; i < inst->n_paths; i++)
        if (!strcmp(inst->paths[i], name)) { *out = (XrPath)(i + 1); return 1; }
    if (inst->n_paths == MAX_PATHS) return 0;
    inst->paths[inst->n_paths] = strdup(name);
    *out = (XrPath)(++inst->n_paths);
    return 1;
}

static XrResult rt_xrSyncActions(XrSession session, const XrActionsSyncInfo *si) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!si || si->type != XR_TYPE_ACTIONS_SYNC_INFO) return XR_ERROR_VALIDATION_FAILURE;
    if (session_lost(s)) return XR_ERROR_SESSION_LOST;
    for (uint32_t i = 0; i < si->countActiveActionSets; i++) {
        ActionSet *as = (ActionSet *)si->activeActionSets[i].actionSet;
        CHECK_HANDLE(as, MAGIC_ACTIONSET, XR_ERROR_HANDLE_INVALID);
        if (!as->attached) return XR_ERROR_ACTIONSET_NOT_ATTACHED;
    }
    if (s->state != XR_SESSION_STATE_FOCUSED) return XR_SESSION_NOT_FOCUSED;
    /* the script's lines up to this frame (frames ended so far) take effect */
    while (s->next_key < s->n_script && s->script[s->next_key].frame <= (long)s->frames_submitted) {
        const InputKey *k = &s->script[s->next_key++];
        HandState *hs = &s->hands[k->hand];
        if (k->mask & KEY_PROFILE) snprintf(hs->profile, sizeof(hs->profile), "%s", k->profile);
        if (k->mask & KEY_AIM) { hs->aim = k->aim; hs->aim_valid = 1; }
        if (k->mask & KEY_GRIP) { hs->grip = k->grip; hs->grip_valid = 1; }
        if (k->mask & KEY_SELECT) hs->select = k->select;
        if (k->mask & KEY_SQUEEZE) hs->squeeze = k->squeeze;
        if (k->mask & KEY_THUMB) { hs->thumb[0] = k->thumb[0]; hs->thumb[1] = k->thumb[1]; }
        if (k->mask & KEY_UNTRACK) hs->aim_valid = hs->grip_valid = 0;
    }
    XrTime now = now_ns();
    for (int i = 0; i < s->inst->n_actions; i++) {
        Action *a = s->inst->actions[i];
        int active_set = 0;
        for (uint32_t j = 0; j < si->countActiveActionSets; j++)
            active_set |= (ActionSet *)si->activeActionSets[j].actionSet == a->set;
        for (int h = 0; h < 2; h++) {
            a->prev[h] = a->cur[h];
            ActionValue v = active_set ? eval_action(s, a, h) : a->prev[h];
            if (!active_set) v.active = 0;
            int changed = !a->prev[h].active || v.v[0] != a->prev[h].v[0] || v.v[1] != a->prev[h].v[1];
            v.change_time = changed ? now : a->prev[h].change_time;
            a->cur[h] = v;
        }
    }
    int changed = 0;
    for (int h = 0; h < 2; h++) {
        int p = current_profile(s, h);
        if (p != s->reported_profile[h]) { s->reported_profile[h] = p; changed = 1; }
    }
    if (changed) {
        XrEventDataInteractionProfileChanged ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = XR_TYPE_EVENT_DATA_INTERACTION_PROFILE_CHANGED;
        ev.session = (XrSession)s;
        push_event(s->inst, &ev, sizeof(ev));
    }
    return XR_SUCCESS;
}
static XrResult rt_xrEnumerateBoundSourcesForAction(XrSession session, const XrBoundSourcesForActionEnumerateInfo *ei,
                                                    uint32_t cap, uint32_t *count, XrPath *sources) {
    Session *s = (Session *)session;
    CHECK_HANDLE(s, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!ei || ei->type != XR_TYPE_BOUND_SOURCES_FOR_ACTION_ENUMERATE_INFO || !count) return XR_ERROR_VALIDATION_FAILURE;
    Action *a = (Action *)ei->action;
    CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
    if (!a->set->attached) return XR_ERROR_ACTIONSET_NOT_ATTACHED;
    (void)cap; (void)sources;
    *count = 0; /* bound sources are not enumerated by this runtime */
    return XR_SUCCESS;
}
static XrResult rt_xrGetInputSourceLocalizedName(XrSession session, const XrInputSourceLocalizedNameGetInfo *gi,
                                                 uint32_t cap, uint32_t *count, char *buffer) {
    CHECK_HANDLE((Session *)session, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!gi || gi->type != XR_TYPE_INPUT_SOURCE_LOCALIZED_NAME_GET_INFO || !count) return XR_ERROR_VALIDATION_FAILURE;
    (void)cap; (void)buffer;
    return XR_ERROR_PATH_INVALID; /* bound sources are not enumerated, so none can be named */
}
static XrResult rt_xrApplyHapticFeedback(XrSession session, const XrHapticActionInfo *hi, const XrHapticBaseHeader *hf) {
    CHECK_HANDLE((Session *)session, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!hi || hi->type != XR_TYPE_HAPTIC_ACTION_INFO || !hf) return XR_ERROR_VALIDATION_FAILURE;
    Action *a = (Action *)hi->action;
    CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
    if (a->type != XR_ACTION_TYPE_VIBRATION_OUTPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    return XR_SUCCESS;
}
static XrResult rt_xrStopHapticFeedback(XrSession session, const XrHapticActionInfo *hi) {
    CHECK_HANDLE((Session *)session, MAGIC_SESSION, XR_ERROR_HANDLE_INVALID);
    if (!hi || hi->type != XR_TYPE_HAPTIC_ACTION_INFO) return XR_ERROR_VALIDATION_FAILURE;
    Action *a = (Action *)hi->action;
    CHECK_HANDLE(a, MAGIC_ACTION, XR_ERROR_HANDLE_INVALID);
    if (a->type != XR_ACTION_TYPE_VIBRATION_OUTPUT) return XR_ERROR_ACTION_TYPE_MISMATCH;
    return XR_SUCCESS;
}

/* ---- XR_KHR_convert_timespec_time: XrTime is CLOCK_MONOTONIC in nanoseconds ---- */
static XrResult rt_xrConvertTimespecTimeToTimeKHR(XrInstance instance, const struct timespec *ts, XrTime *t) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!ts || !t) return XR_ERROR_VALIDATION_FAILURE;
    *t = (XrTime)ts->tv_sec * 1000000000LL + ts->tv_nsec + time_offset_ns();
    return XR_SUCCESS;
}
static XrResult rt_xrConvertTimeToTimespecTimeKHR(XrInstance instance, XrTime t, struct timespec *ts) {
    CHECK_HANDLE((Instance *)instance, MAGIC_INSTANCE, XR_ERROR_HANDLE_INVALID);
    if (!ts) return XR_ERROR_VALIDATION_FAILURE;
    if (t <= 0) return XR_ERROR_TIME_INVALID;
    t -= time_offset_ns();
    ts->tv_sec = (time_t)(t / 1000000000LL);
    ts->tv_nsec = (long)(t % 1000000000LL);
    return XR_SUCCESS;
}

/* ---- dispatch ---- */
static XrResult rt_xrGetInstanceProcAddr(XrInstance instance, const char *name, PFN_xrVoidFunction *fn);

typedef struct { const char *name; PFN_xrVoidFunction fn; int ext; } Entry;
enum { EXT_NONE = 0, EXT_OPENGL, EXT_TIMESPEC };
#define E(n) {#n, (PFN_xrVoidFunction)rt_##n, EXT_NONE}
#define EX(n, e) {#n, (PFN_xrVoidFunction)rt_##n, e}
static const Entry k_entries[] = {
    E(xrGetInstanceProcAddr), E(xrEnumerateApiLayerProperties), E(xrEnumerateInstanceExtensionProperties),
    E(xrCreateInstance), E(xrDestroyInstance), E(xrGetInstanceProperties), E(xrPollEvent), E(xrResultToString),
    E(xrStructureTypeToString), E(xrGetSystem), E(xrGetSystemProperties), E(xrEnumerateEnvironmentBlendModes),
    E(xrCreateSession), E(xrDestroySession), E(xrEnumerateReferenceSpaces), E(xrCreateReferenceSpace),
    E(xrGetReferenceSpaceBoundsRect), E(xrCreateActionSpace), E(xrLocateSpace), E(xrDestroySpace),
    E(xrEnumerateViewConfigurations), E(xrGetViewConfigurationProperties), E(xrEnumerateViewConfigurationViews),
    E(xrEnumerateSwapchainFormats), E(xrCreateSwapchain), E(xrDestroySwapchain), E(xrEnumerateSwapchainImages),
    E(xrAcquireSwapchainImage), E(xrWaitSwapchainImage), E(xrReleaseSwapchainImage), E(xrBeginSession),
    E(xrEndSession), E(xrRequestExitSession), E(xrWaitFrame), E(xrBeginFrame), E(xrEndFrame), E(xrLocateViews),
    E(xrStringToPath), E(xrPathToString), E(xrCreateActionSet), E(xrDestroyActionSet), E(xrCreateAction),
    E(xrDestroyAction), E(xrSuggestInteractionProfileBindings), E(xrAttachSessionActionSets),
    E(xrGetCurrentInteractionProfile), E(xrGetActionStateBoolean), E(xrGetActionStateFloat),
    E(xrGetActionStateVector2f), E(xrGetActionStatePose), E(xrSyncActions), E(xrEnumerateBoundSourcesForAction),
    E(xrGetInputSourceLocalizedName), E(xrApplyHapticFeedback), E(xrStopHapticFeedback),
    EX(xrGetOpenGLGraphicsRequirementsKHR, EXT_OPENGL), EX(xrConvertTimespecTimeToTimeKHR, EXT_TIMESPEC),
    EX(xrConvertTimeToTimespecTimeKHR, EXT_TIMESPEC),
};

static XrResult rt_xrGetInstanceProcAddr(XrInstance instance, const char *name, PFN_xrVoidFunction *fn) {
    if (!name || !fn) return XR_ERROR_VALIDATION_FAILURE;
    *fn = NULL;
    Instance *inst = (Instance *)instance;
    if (instance == XR_NULL_HANDLE) {
        /* only these may be queried without an instance */
        if (strcmp(name, "xrEnumerateInstanceExtensionProperties") && strcmp(name, "xrEnumerateApiLayerProperties") &&
            strcmp(name, "xrCreateInstance") && strcmp(name, "xrGetInstanceProcAddr"))
            return XR_ERROR_HANDLE_INVALID;
    } else if (inst->magic != MAGIC_INSTANCE) {
        return XR_ERROR_HANDLE_INVALID;
    }
    for (size_t i = 0; i < sizeof(k_entries) / sizeof(k_entries[0]); i++) {
        if (strcmp(k_entries[i].name, name)) continue;
        if (k_entries[i].ext == EXT_OPENGL && (!inst || !inst->ext_opengl)) return XR_ERROR_FUNCTION_UNSUPPORTED;
        if (k_entries[i].ext == EXT_TIMESPEC && (!inst || !inst->ext_timespec)) return XR_ERROR_FUNCTION_UNSUPPORTED;
        *fn = k_entries[i].fn;
        return XR_SUCCESS;
    }
    return XR_ERROR_FUNCTION_UNSUPPORTED;
}

EXPORT XrResult xrNegotiateLoaderRuntimeInterface(const XrNegotiateLoaderInfo *li, XrNegotiateRuntimeRequest *rr) {
    if (!li || li->structType != XR_LOADER_INTERFACE_STRUCT_LOADER_INFO ||
        li->structVersion != XR_LOADER_INFO_STRUCT_VERSION || li->structSize != sizeof(XrNegotiateLoaderInfo))
        return XR_ERROR_INITIALIZATION_FAILED;
    if (!rr || rr->structType != XR_LOADER_INTERFACE_STRUCT_RUNTIME_REQUEST ||
        rr->structVersion != XR_RUNTIME_INFO_STRUCT_VERSION || rr->structSize != sizeof(XrNegotiateRuntimeRequest))
        return XR_ERROR_INITIALIZATION_FAILED;
    if (li->minInterfaceVersion > XR_CURRENT_LOADER_RUNTIME_VERSION ||
        li->maxInterfaceVersion < XR_CURRENT_LOADER_RUNTIME_VERSION)
        return XR_ERROR_INITIALIZATION_FAILED;
    if (XR_VERSION_MAJOR(li->minApiVersion) > 1 || XR_VERSION_MAJOR(li->maxApiVersion) < 1)
        return XR_ERROR_INITIALIZATION_FAILED;
    rr->runtimeInterfaceVersion = XR_CURRENT_LOADER_RUNTIME_VERSION;
    rr->runtimeApiVersion = XR_CURRENT_API_VERSION;
    rr->getInstanceProcAddr = rt_xrGetInstanceProcAddr;
    return XR_SUCCESS;
}
