"""OpenGL contexts and the OpenXR graphics binding: the one place that chooses between them.

Two bindings for XR_KHR_opengl_enable sessions:

* ``xlib``: a GLX context on an X display (``XrGraphicsBindingOpenGLXlibKHR``). This is what
  SteamVR and Monado accept on Linux; it needs ``DISPLAY``.
* ``egl``: a surfaceless EGL context (``XrGraphicsBindingEGLMNDX``, XR_MNDX_egl_enable),
  accepted by Monado and by the project's headless test runtime; works without a display
  (Mesa llvmpipe on a CPU, or the NVIDIA EGL driver).

``auto`` picks ``xlib`` when ``DISPLAY`` is set and the runtime lacks XR_MNDX_egl_enable,
``egl`` otherwise. Contexts are OpenGL 3.3 core.

PyOpenGL picks its platform (GLX or EGL) once, at import; ``import xr`` forces GLX. Call
:func:`import_gl` before anything imports ``xr`` or ``OpenGL``: it sets the platform, imports
``OpenGL.GL`` and then ``xr``, and restores the chosen platform.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Any

BINDINGS = ("auto", "egl", "xlib")


def import_gl(platform: str = "egl") -> Any:
    """Import PyOpenGL for ``platform`` ('egl' or 'glx') and pyopenxr without losing it.

    Returns the ``xr`` module (pyopenxr), or None when pyopenxr is not installed.
    """
    import sys

    if "OpenGL" not in sys.modules:
        os.environ["PYOPENGL_PLATFORM"] = platform
    import OpenGL.platform as glplat
    import OpenGL.GL  # noqa: F401  (binds GL entry points to the chosen platform)
    chosen = glplat.PLATFORM
    if type(chosen).__name__ != {"egl": "EGLPlatform", "glx": "GLXPlatform"}[platform]:
        raise RuntimeError(f"PyOpenGL was imported for {type(chosen).__name__} before the XR renderer "
                           f"chose {platform}; import vr_study.xr.graphics.import_gl first")
    try:
        import xr  # pyopenxr: switches PyOpenGL to GLX on import
    except ImportError:  # pragma: no cover - pyopenxr is a dependency
        xr = None
    glplat.PLATFORM = chosen
    return xr


def _libgl() -> ctypes.CDLL:
    gl = ctypes.CDLL("libGL.so.1")
    gl.glXMakeContextCurrent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    gl.glXDestroyPbuffer.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    gl.glXDestroyContext.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return gl


@dataclass
class GLContext:
    """A current OpenGL 3.3 core context and what an OpenXR binding needs to know of it."""

    kind: str            # "egl" or "xlib"
    display: Any         # EGLDisplay or X Display*
    context: Any         # EGLContext or GLXContext
    config: Any          # EGLConfig or GLXFBConfig
    drawable: Any = None  # GLX pbuffer (xlib only)
    visualid: int = 0

    def make_current(self) -> None:
        if self.kind == "egl":
            from OpenGL import EGL
            EGL.eglMakeCurrent(self.display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, self.context)
        else:
            _libgl().glXMakeContextCurrent(self.display, self.drawable, self.drawable, self.context)

    def destroy(self) -> None:
        if self.kind == "egl":
            from OpenGL import EGL
            EGL.eglMakeCurrent(self.display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
            EGL.eglDestroyContext(self.display, self.context)
            EGL.eglTerminate(self.display)
        else:
            gl = _libgl()
            gl.glXMakeContextCurrent(self.display, 0, 0, None)
            gl.glXDestroyPbuffer(self.display, self.drawable)
            gl.glXDestroyContext(self.display, self.context)

    def renderer(self) -> str:
        from OpenGL import GL
        return GL.glGetString(GL.GL_RENDERER).decode(errors="replace")


def _egl_display_candidates() -> list:
    """EGL displays to try: each EGL device (headless GPUs), then the default display."""
    from OpenGL import EGL

    out = []
    try:
        from OpenGL.EGL.EXT.device_enumeration import eglQueryDevicesEXT
        from OpenGL.EGL.EXT.platform_device import EGL_PLATFORM_DEVICE_EXT
        devices = (EGL.EGLDeviceEXT * 8)()
        n = EGL.EGLint()
        if eglQueryDevicesEXT(8, devices, ctypes.pointer(n)):
            for i in range(n.value):
                out.append(lambda d=devices[i]: EGL.eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, d, None))
    except Exception:  # noqa: BLE001 - no device enumeration: the default display only
        pass
    out.append(lambda: EGL.eglGetDisplay(EGL.EGL_DEFAULT_DISPLAY))
    return out


def _initialized_egl_display():
    from OpenGL import EGL

    errors = []
    for get in _egl_display_candidates():
        try:
            display = get()
            major, minor = EGL.EGLint(), EGL.EGLint()
            if display and EGL.eglInitialize(display, ctypes.pointer(major), ctypes.pointer(minor)):
                return display
        except Exception as e:  # noqa: BLE001 - try the next display
            errors.append(str(e).splitlines()[0])
    raise RuntimeError("no usable EGL display (install Mesa's libegl1 / libegl-mesa0): " + "; ".join(errors))


def create_egl_context() -> GLContext:
    """A surfaceless OpenGL 3.3 core EGL context, made current (no display needed)."""
    from OpenGL import EGL

    display = _initialized_egl_display()
    attribs = (EGL.EGLint * 9)(EGL.EGL_SURFACE_TYPE, EGL.EGL_PBUFFER_BIT, EGL.EGL_RENDERABLE_TYPE,
                               EGL.EGL_OPENGL_BIT, EGL.EGL_RED_SIZE, 8, EGL.EGL_DEPTH_SIZE, 24, EGL.EGL_NONE)
    config = EGL.EGLConfig()
    num = EGL.EGLint()
    if not EGL.eglChooseConfig(display, attribs, ctypes.pointer(config), 1, ctypes.pointer(num)) or num.value < 1:
        raise RuntimeError("no EGL config with desktop OpenGL")
    EGL.eglBindAPI(EGL.EGL_OPENGL_API)
    ctx_attribs = (EGL.EGLint * 7)(EGL.EGL_CONTEXT_MAJOR_VERSION, 3, EGL.EGL_CONTEXT_MINOR_VERSION, 3,
                                   EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                                   EGL.EGL_NONE)
    context = EGL.eglCreateContext(display, config, EGL.EGL_NO_CONTEXT, ctx_attribs)
    if not context:
        raise RuntimeError("eglCreateContext failed for OpenGL 3.3 core")
    if not EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, context):
        raise RuntimeError("eglMakeCurrent (surfaceless) failed")
    return GLContext("egl", display, context, config)


def create_glx_context() -> GLContext:
    """An OpenGL 3.3 core GLX context on ``$DISPLAY`` with a 1x1 pbuffer, made current.

    GLX is called through ctypes (libX11, libGL): PyOpenGL does not expose
    glXCreateContextAttribsARB without a current context. Handles are kept as integers.
    """
    c_int_p = ctypes.POINTER(ctypes.c_int)
    xlib = ctypes.CDLL("libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    libgl = ctypes.CDLL("libGL.so.1")
    libgl.glXChooseFBConfig.restype = ctypes.POINTER(ctypes.c_void_p)
    libgl.glXChooseFBConfig.argtypes = [ctypes.c_void_p, ctypes.c_int, c_int_p, c_int_p]
    libgl.glXGetProcAddressARB.restype = ctypes.c_void_p
    libgl.glXGetProcAddressARB.argtypes = [ctypes.c_char_p]
    libgl.glXCreatePbuffer.restype = ctypes.c_ulong
    libgl.glXCreatePbuffer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, c_int_p]
    libgl.glXMakeContextCurrent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    libgl.glXGetVisualFromFBConfig.restype = ctypes.c_void_p
    libgl.glXGetVisualFromFBConfig.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    dpy = xlib.XOpenDisplay(None)
    if not dpy:
        raise RuntimeError(f"cannot open X display {os.environ.get('DISPLAY')!r}")
    GLX_RENDER_TYPE, GLX_RGBA_BIT, GLX_DRAWABLE_TYPE, GLX_PBUFFER_BIT = 0x8011, 0x1, 0x8010, 0x4
    GLX_RED_SIZE, GLX_DEPTH_SIZE = 8, 12
    attribs = (ctypes.c_int * 11)(GLX_RENDER_TYPE, GLX_RGBA_BIT, GLX_DRAWABLE_TYPE, GLX_PBUFFER_BIT,
                                  GLX_RED_SIZE, 8, GLX_DEPTH_SIZE, 24, 0, 0, 0)
    n = ctypes.c_int()
    configs = libgl.glXChooseFBConfig(dpy, 0, attribs, ctypes.byref(n))
    if not configs or n.value < 1:
        raise RuntimeError("no GLX framebuffer config with a pbuffer")
    config = configs[0]
    addr = libgl.glXGetProcAddressARB(b"glXCreateContextAttribsARB")
    create = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                              c_int_p)(addr)
    GLX_CONTEXT_MAJOR, GLX_CONTEXT_MINOR, GLX_PROFILE_MASK, GLX_CORE_BIT = 0x2091, 0x2092, 0x9126, 0x1
    ctx_attribs = (ctypes.c_int * 7)(GLX_CONTEXT_MAJOR, 3, GLX_CONTEXT_MINOR, 3, GLX_PROFILE_MASK, GLX_CORE_BIT, 0)
    context = create(dpy, config, None, 1, ctx_attribs)
    if not context:
        raise RuntimeError("glXCreateContextAttribsARB failed for OpenGL 3.3 core")
    GLX_PBUFFER_WIDTH, GLX_PBUFFER_HEIGHT = 0x8041, 0x8040
    drawable = libgl.glXCreatePbuffer(dpy, config, (ctypes.c_int * 5)(GLX_PBUFFER_WIDTH, 1, GLX_PBUFFER_HEIGHT, 1, 0))
    if not libgl.glXMakeContextCurrent(dpy, drawable, drawable, context):
        raise RuntimeError("glXMakeContextCurrent failed")
    visual = libgl.glXGetVisualFromFBConfig(dpy, config)
    # XVisualInfo starts with (Visual *visual, VisualID visualid)
    visualid = ctypes.c_ulong.from_address(visual + ctypes.sizeof(ctypes.c_void_p)).value if visual else 0
    return GLContext("xlib", dpy, context, config, drawable=drawable, visualid=visualid)


def resolve_binding(binding: str, runtime_extensions: list[str]) -> str:
    """Pick 'egl' or 'xlib' for ``binding`` ('auto', 'egl', 'xlib')."""
    if binding not in BINDINGS:
        raise ValueError(f"graphics binding must be one of {BINDINGS}, not {binding!r}")
    if binding != "auto":
        return binding
    has_egl = "XR_MNDX_egl_enable" in runtime_extensions
    if os.environ.get("DISPLAY") and not has_egl:
        return "xlib"
    return "egl" if has_egl else "xlib"


def xr_binding_struct(xr: Any, ctx: GLContext) -> Any:
    """The pyopenxr graphics-binding structure for ``ctx`` (chained into XrSessionCreateInfo)."""
    if ctx.kind == "egl":
        libegl = ctypes.CDLL("libEGL.so.1")
        get_proc = xr.PFN_xrEglGetProcAddressMNDX(ctypes.cast(libegl.eglGetProcAddress, ctypes.c_void_p).value)
        return xr.GraphicsBindingEGLMNDX(get_proc_address=get_proc, display=ctx.display,
                                         config=ctx.config, context=ctx.context)
    from OpenGL import GLX

    return xr.GraphicsBindingOpenGLXlibKHR(
        x_display=ctypes.cast(ctypes.c_void_p(ctx.display), ctypes.POINTER(GLX.Display)),
        visualid=ctx.visualid, glx_fbconfig=ctypes.cast(ctypes.c_void_p(ctx.config), GLX.GLXFBConfig),
        glx_drawable=ctx.drawable, glx_context=ctypes.cast(ctypes.c_void_p(ctx.context), GLX.GLXContext))


def required_extensions(kind: str) -> list[str]:
    """OpenXR instance extensions a session with this binding needs."""
    exts = ["XR_KHR_opengl_enable"]
    if kind == "egl":
        exts.append("XR_MNDX_egl_enable")
    return exts
