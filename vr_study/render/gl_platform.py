"""Headless OpenGL: choose EGL (first) or OSMesa before pyrender/PyOpenGL is imported.

PyOpenGL picks its platform once, from ``PYOPENGL_PLATFORM``, when ``OpenGL`` is first
imported. Every module of :mod:`vr_study.render` that needs pyrender gets it through
:func:`import_pyrender`, so the choice is made in this one place. A platform the user set
in the environment is respected.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from types import ModuleType

from vr_study.errors import InputError

PLATFORMS = ("egl", "osmesa")

_EGL_PLATFORM_DEVICE_EXT = 0x313F


def egl_available() -> bool:
    """True if libEGL can open a display on an EGL device (as pyrender's EGL platform does)."""
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        egl = ctypes.CDLL(name)
    except OSError:
        return False
    try:
        get_proc = egl.eglGetProcAddress
        get_proc.restype = ctypes.c_void_p
        get_proc.argtypes = [ctypes.c_char_p]
        query_ptr = get_proc(b"eglQueryDevicesEXT")
        display_ptr = get_proc(b"eglGetPlatformDisplayEXT")
        if not query_ptr or not display_ptr:
            return False
        query = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_int))(query_ptr)
        get_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p,
                                       ctypes.c_void_p)(display_ptr)
        devices = (ctypes.c_void_p * 8)()
        count = ctypes.c_int(0)
        if not query(8, devices, ctypes.byref(count)) or count.value < 1:
            return False
        display = get_display(_EGL_PLATFORM_DEVICE_EXT, devices[0], None)
        if not display:
            return False
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                      ctypes.POINTER(ctypes.c_int)]
        major, minor = ctypes.c_int(0), ctypes.c_int(0)
        ok = bool(egl.eglInitialize(display, ctypes.byref(major), ctypes.byref(minor)))
        if ok:
            egl.eglTerminate.argtypes = [ctypes.c_void_p]
            egl.eglTerminate(display)
        return ok
    except (AttributeError, OSError):
        return False


def osmesa_available() -> bool:
    """True if the OSMesa library can be loaded."""
    name = ctypes.util.find_library("OSMesa") or "libOSMesa.so.8"
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def configure_gl_platform() -> str:
    """Set ``PYOPENGL_PLATFORM`` (EGL if it works, else OSMesa) unless already chosen.

    Returns the platform in effect. Must run before ``OpenGL`` is imported; if it already
    was, the platform PyOpenGL chose stays and is returned.
    """
    chosen = os.environ.get("PYOPENGL_PLATFORM")
    if chosen:
        return chosen
    if "OpenGL" in sys.modules:  # too late to choose; report what PyOpenGL runs on
        from OpenGL import platform as gl_platform

        return type(gl_platform.PLATFORM).__name__.lower().replace("platform", "") or "unknown"
    if egl_available():
        chosen = "egl"
    elif osmesa_available():
        chosen = "osmesa"
    else:
        raise InputError(None, None, "no headless OpenGL found (neither EGL nor OSMesa loads)",
                         "install Mesa's libegl1 and libosmesa6 (scripts/install.sh does)")
    os.environ["PYOPENGL_PLATFORM"] = chosen
    return chosen


def import_pyrender() -> ModuleType:
    """Import pyrender after choosing the headless GL platform; return the module."""
    configure_gl_platform()
    import pyrender

    return pyrender
