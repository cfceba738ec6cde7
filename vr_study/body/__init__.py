"""Body models: the default SMPL-X-compatible mannequin and fast SMPL-X posing.

Public API (others code against it):

- :func:`load_body_model` -> :class:`BodyModel` (real SMPL-X files or the default body)
- :func:`default_body_model_path`
- :class:`Skinned` (posed vertices and joints)
- :data:`EXPRESSION_NAMES` / :data:`BETA_NAMES` of the default body
"""
from vr_study.body.build import BETA_NAMES, EXPRESSION_NAMES
from vr_study.body.model import BodyModel, Skinned, default_body_model_path, load_body_model
from vr_study.body.skeleton import JOINT_NAMES, PARENTS

__all__ = ["BodyModel", "Skinned", "load_body_model", "default_body_model_path",
           "EXPRESSION_NAMES", "BETA_NAMES", "JOINT_NAMES", "PARENTS"]
