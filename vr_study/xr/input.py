"""OpenXR controller input: one action set, bindings for the common controllers, a per-frame snapshot.

Actions (all with subaction paths ``/user/hand/left`` and ``/user/hand/right``):

* ``select`` (boolean): the trigger, the simple controller's select button, or a pinch;
* ``aim_pose`` and ``grip_pose`` (pose): where the hand points (the ray, -Z forward) and
  where it holds;
* ``thumbstick`` (vector2f, where the controller has one; the Vive's trackpad).

Suggested bindings (:data:`SUGGESTED_BINDINGS`) use only paths the OpenXR registry lists for
each interaction profile: KhronosGroup/OpenXR-Docs @ 9b6424730599568cd630255cbe6c07161bd53cd0,
``specification/registry/xr.xml`` lines 12386-12394 (khr/simple_controller), 12409-12424
(htc/vive_controller), 12501-12526 (oculus/touch_controller), 12528-12553
(valve/index_controller) and 13111-13123 (ext/hand_interaction_ext, XR_EXT_hand_interaction:
suggested only when the runtime offers that extension). A boolean action bound to a float
input (``trigger/value``, ``pinch_ext/value``) is thresholded by the runtime.

Per frame (:meth:`XrInput.sync`): xrSyncActions, the action states, xrLocateSpace of each
hand's aim and grip spaces in STAGE at the predicted display time -> :class:`InputSnapshot`.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

from vr_study.xr.viewmath import Pose

HANDS = ("left", "right")
HAND_PATHS = {"left": "/user/hand/left", "right": "/user/hand/right"}
HAND_INTERACTION_EXTENSION = "XR_EXT_hand_interaction"
HAND_INTERACTION_PROFILE = "/interaction_profiles/ext/hand_interaction_ext"

#: interaction profile -> action -> input path below ``/user/hand/<hand>``
SUGGESTED_BINDINGS: dict[str, dict[str, str]] = {
    "/interaction_profiles/khr/simple_controller": {
        "select": "/input/select/click", "aim_pose": "/input/aim/pose", "grip_pose": "/input/grip/pose"},
    "/interaction_profiles/oculus/touch_controller": {
        "select": "/input/trigger/value", "aim_pose": "/input/aim/pose", "grip_pose": "/input/grip/pose",
        "thumbstick": "/input/thumbstick"},
    "/interaction_profiles/valve/index_controller": {
        "select": "/input/trigger/click", "aim_pose": "/input/aim/pose", "grip_pose": "/input/grip/pose",
        "thumbstick": "/input/thumbstick"},
    "/interaction_profiles/htc/vive_controller": {
        "select": "/input/trigger/click", "aim_pose": "/input/aim/pose", "grip_pose": "/input/grip/pose",
        "thumbstick": "/input/trackpad"},
    HAND_INTERACTION_PROFILE: {  # hand tracking: aim ray and pinch (XR_EXT_hand_interaction)
        "select": "/input/pinch_ext/value", "aim_pose": "/input/aim/pose", "grip_pose": "/input/grip/pose"},
}


@dataclass(frozen=True)
class HandInput:
    """One hand at one frame. ``aim``/``grip``: poses in STAGE (metres, quaternion x, y, z, w),
    None while untracked or unbound. ``select``: held now; ``select_pressed``: went down at
    this frame's sync (an edge). ``thumbstick``: (x, y) in -1..1. ``profile``: the active
    interaction profile path, None when no controller (or hand) is bound."""

    hand: str
    profile: str | None = None
    aim: Pose | None = None
    grip: Pose | None = None
    select: bool = False
    select_pressed: bool = False
    thumbstick: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class InputSnapshot:
    """The participant's head and hands at one predicted display time ``time_s``
    (CLOCK_MONOTONIC s). ``head``: the head (mean of the eyes) in STAGE, None if untracked."""

    time_s: float
    head: Pose | None
    hands: dict[str, HandInput] = field(default_factory=dict)

    def hand(self, name: str) -> HandInput:
        return self.hands.get(name) or HandInput(name)


class XrInput:
    """The action set of a session (created, bound and attached in ``__init__``).

    ``extensions``: the instance's enabled extensions (hand interaction bindings are
    suggested only with XR_EXT_hand_interaction). ``base_space``: the STAGE space poses
    are located in. A profile whose bindings the runtime refuses (XR_ERROR_PATH_UNSUPPORTED:
    an older runtime without it, or a binding path the spec does not list) is left out and
    named in :attr:`profiles_rejected`; the test runtime refuses every path the registry does
    not list, so the tests catch typos here.
    """

    def __init__(self, xr: Any, instance: Any, session: Any, base_space: Any, extensions: list[str]):
        self.xr, self.instance, self.session, self.base_space = xr, instance, session, base_space
        self._paths = {h: xr.string_to_path(instance, p) for h, p in HAND_PATHS.items()}
        self.action_set = xr.create_action_set(instance, xr.ActionSetCreateInfo(
            action_set_name="vr_study", localized_action_set_name="vr-study", priority=0))
        subs = (ctypes.c_uint64 * 2)(*self._paths.values())
        types = {"select": xr.ActionType.BOOLEAN_INPUT, "aim_pose": xr.ActionType.POSE_INPUT,
                 "grip_pose": xr.ActionType.POSE_INPUT, "thumbstick": xr.ActionType.VECTOR2F_INPUT}
        self.actions = {name: xr.create_action(self.action_set, xr.ActionCreateInfo(
            action_name=name, action_type=t, count_subaction_paths=2, subaction_paths=subs,
            localized_action_name=name.replace("_", " "))) for name, t in types.items()}
        self.profiles_suggested: list[str] = []
        self.profiles_rejected: list[str] = []  # the runtime refused them (XR_ERROR_PATH_UNSUPPORTED)
        for profile, actions in SUGGESTED_BINDINGS.items():
            if profile == HAND_INTERACTION_PROFILE and HAND_INTERACTION_EXTENSION not in extensions:
                continue
            bindings = [xr.ActionSuggestedBinding(self.actions[a], xr.string_to_path(instance, HAND_PATHS[h] + p))
                        for a, p in actions.items() for h in HANDS]
            try:
                xr.suggest_interaction_profile_bindings(instance, xr.InteractionProfileSuggestedBinding(
                    interaction_profile=xr.string_to_path(instance, profile),
                    count_suggested_bindings=len(bindings),
                    suggested_bindings=(xr.ActionSuggestedBinding * len(bindings))(*bindings)))
            except xr.PathUnsupportedError:  # a runtime without this profile: the others still work
                self.profiles_rejected.append(profile)
                continue
            self.profiles_suggested.append(profile)
        xr.attach_session_action_sets(session, xr.SessionActionSetsAttachInfo(
            count_action_sets=1, action_sets=ctypes.pointer(self.action_set)))
        self.spaces = {(kind, h): xr.create_action_space(session, xr.ActionSpaceCreateInfo(
            action=self.actions[kind + "_pose"], subaction_path=self._paths[h]))
            for kind in ("aim", "grip") for h in HANDS}
        self.profiles: dict[str, str | None] = {h: None for h in HANDS}
        self._profiles_read = False  # read once after the first sync, then on each change event

    def refresh_profiles(self) -> None:
        """Read each hand's current interaction profile (after INTERACTION_PROFILE_CHANGED)."""
        xr = self.xr
        for h in HANDS:
            state = xr.get_current_interaction_profile(self.session, self._paths[h])
            p = int(state.interaction_profile)
            self.profiles[h] = xr.path_to_string(self.instance, p) if p else None

    def sync(self, display_ns: int, display_s: float, head: Pose | None) -> InputSnapshot:
        """xrSyncActions and read every action for the frame displayed at ``display_ns``."""
        xr = self.xr
        try:
            xr.sync_actions(self.session, xr.ActionsSyncInfo(
                count_active_action_sets=1,
                active_action_sets=ctypes.pointer(xr.ActiveActionSet(self.action_set, xr.NULL_PATH))))
        except xr.SessionNotFocused:  # another application has the input: inactive hands
            return InputSnapshot(display_s, head, {h: HandInput(h) for h in HANDS})
        if not self._profiles_read:
            self.refresh_profiles()
            self._profiles_read = True
        hands = {}
        for h in HANDS:
            info = lambda name: xr.ActionStateGetInfo(action=self.actions[name], subaction_path=self._paths[h])  # noqa: E731
            sel = xr.get_action_state_boolean(self.session, info("select"))
            stick = xr.get_action_state_vector2f(self.session, info("thumbstick"))
            poses = {}
            for kind in ("aim", "grip"):
                loc = xr.locate_space(self.spaces[(kind, h)], self.base_space, display_ns)
                flags = int(loc.location_flags)
                valid = xr.SpaceLocationFlags.POSITION_VALID_BIT | xr.SpaceLocationFlags.ORIENTATION_VALID_BIT
                if flags & int(valid) == int(valid):
                    p = loc.pose
                    poses[kind] = Pose((p.position.x, p.position.y, p.position.z),
                                       (p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w))
            pressed = bool(sel.is_active and sel.current_state and sel.changed_since_last_sync)
            hands[h] = HandInput(h, self.profiles[h], poses.get("aim"), poses.get("grip"),
                                 bool(sel.is_active and sel.current_state), pressed,
                                 (float(stick.current_state.x), float(stick.current_state.y)) if stick.is_active
                                 else (0.0, 0.0))
        return InputSnapshot(display_s, head, hands)

    def release(self) -> None:
        for sp in self.spaces.values():
            self.xr.destroy_space(sp)
        self.spaces = {}
        self.xr.destroy_action_set(self.action_set)  # destroys its actions too


def pose_list(pose: Pose | None) -> list[float] | None:
    """``[x, y, z, qx, qy, qz, qw]`` (metres, unit quaternion) rounded to 1e-6, or None."""
    if pose is None:
        return None
    return [round(float(v), 6) for v in (*pose.position, *pose.orientation)]


def controllers_record(snap: InputSnapshot) -> dict[str, dict]:
    """The frame log's ``controllers`` field (see :mod:`vr_study.xr.framelog`)."""
    return {h.hand: {"profile": h.profile, "aim": pose_list(h.aim), "grip": pose_list(h.grip),
                     "select": h.select, "select_pressed": h.select_pressed}
            for h in snap.hands.values()}
