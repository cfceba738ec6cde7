"""Line numbers of the fields of a YAML document, so errors can name ``file:line``.

A *path* is a tuple of mapping keys and sequence indices, as in a pydantic error location
(``("factors", "method", 2)``). Pure functions over PyYAML's node tree.

:func:`compose_checked` is the safe way in: it refuses a mapping that repeats a key (YAML
keeps the last silently; the error names both lines) and a document whose aliases expand to
more than ``max_nodes`` nodes (a "billion laughs" alias bomb), before anything is built from it.
"""
from __future__ import annotations

import yaml

#: Most nodes a document may hold once its aliases are expanded (a study spec has a few hundred).
MAX_EXPANDED_NODES = 100_000


class YamlProblem(ValueError):
    """A YAML document that must not be used; ``line`` is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def compose_checked(text: str, max_nodes: int = MAX_EXPANDED_NODES) -> yaml.Node | None:
    """Compose ``text`` (safe loader) and check it; raises :class:`YamlProblem` or ``yaml.YAMLError``.

    Refused: a key repeated in one mapping (both lines named), a recursive alias, and a
    document larger than ``max_nodes`` nodes after alias expansion. Linear in the size of the
    text: every distinct node is visited once (expanded sizes are memoised).
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return None
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order walk: deep nesting cannot overflow Python's stack
        node, done = stack.pop()
        key = id(node)
        if done:
            visiting.discard(key)
            children = _children(node)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > max_nodes:
                raise YamlProblem(node.start_mark.line + 1,
                                  f"expands to more than {max_nodes} nodes through aliases (*name); "
                                  "write the values out or use fewer aliases")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise YamlProblem(node.start_mark.line + 1, "an alias refers to the node that contains it; "
                                                        "remove the recursive alias")
        visiting.add(key)
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for k, _v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    line = k.start_mark.line + 1
                    if k.value in seen:
                        raise YamlProblem(line, f"key '{k.value}' appears twice (lines {seen[k.value]} and "
                                                f"{line}); YAML would keep only the second: merge them or "
                                                "remove one")
                    seen[k.value] = line
        stack.append((node, True))
        for c in _children(node):
            if id(c) in visiting:
                raise YamlProblem(c.start_mark.line + 1, "an alias refers to the node that contains it; "
                                                         "remove the recursive alias")
            if id(c) not in sizes:
                stack.append((c, False))
    return root


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_checked(text: str, max_nodes: int = MAX_EXPANDED_NODES) -> tuple[object, yaml.Node | None]:
    """``(data, root node)`` of ``text`` after :func:`compose_checked`; the data is built from the
    checked node tree (no second parse)."""
    root = compose_checked(text, max_nodes)
    if root is None:
        return None, None
    return yaml.SafeLoader("").construct_document(root), root


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
        return line_map(compose_checked(text))
    except (yaml.YAMLError, YamlProblem):
        return {}


def line_for(lines: dict[tuple, int], path: tuple) -> int | None:
    """Line of ``path``, or of its nearest ancestor that has one (None when none does)."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None
