"""Line numbers of the fields of a YAML document, so errors can name ``file:line``.

A *path* is a tuple of mapping keys and sequence indices, as in a pydantic error location
(``("factors", "method", 2)``). Pure functions over PyYAML's node tree.
"""
from __future__ import annotations

import yaml


def line_map(root: yaml.Node | None) -> dict[tuple, int]:
    """Map every key/index path of a composed YAML document to its 1-based line.

    Keys that look like integers are also entered as ints, so that a pydantic location
    (which turns ``"3":`` into ``3``) finds them.
    """
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                if isinstance(key, str) and key.lstrip("-").isdigit():
                    lines[path + (int(key),)] = k.start_mark.line + 1
                lines[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines[path + (i,)] = v.start_mark.line + 1
                walk(v, path + (i,))

    if root is not None:
        lines[()] = root.start_mark.line + 1
        walk(root, ())
    return lines


def text_line_map(text: str) -> dict[tuple, int]:
    """:func:`line_map` of YAML ``text``; empty when the text does not parse."""
    try:
        return line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return {}


def line_for(lines: dict[tuple, int], path: tuple) -> int | None:
    """Line of ``path``, or of its nearest ancestor that has one (None when none does)."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None
