"""Bounds on text that becomes rules (rule files, and `rules` sent to the test and backtest
API): a size, and a number of values once YAML aliases are expanded.

An alias repeats a value without repeating its text, so 300 bytes of nested aliases stand
for a billion values ("billion laughs"), and `a: &a [*a]` for an endless one. The composed
YAML graph is measured before anything walks it value by value.
"""

from __future__ import annotations

import yaml

MAX_RULE_BYTES = 1 << 20  # 1 MiB
MAX_RULE_VALUES = 100_000  # scalars, lists and mappings (keys included), aliases expanded
MAX_DEPTH = 100  # lists and mappings within one another; a rule file needs under ten


class TextRefused(ValueError):
    """Rule text past a bound; `line` (1-based) is where the problem shows, 0 for the whole."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def check_size(size: int) -> None:
    if size > MAX_RULE_BYTES:
        raise TextRefused(
            0, f"rule text is {size:,} bytes: at most {MAX_RULE_BYTES:,} (1 MiB) are read"
        )


def check_values(root: yaml.Node, *, aliases: bool) -> int:
    """The number of values `root` stands for, aliases expanded; raises `TextRefused` past
    `MAX_RULE_VALUES`, for an alias that holds itself, and for any alias when not `aliases`
    (rules sent in a request). Iterative, and each node's size is counted once."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the root: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 1)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_RULE_VALUES:
                raise TextRefused(_line(node), _TOO_MANY)
            continue
        if key in sizes:  # met a second time: only an alias does that
            if not aliases:
                raise TextRefused(_line(node), "YAML aliases (*name) are not accepted here")
            continue
        if depth > MAX_DEPTH:
            raise TextRefused(_line(node), _TOO_DEEP)
        stack.append((node, True, depth))
        open_nodes.add(key)
        for child in _children(node):
            if id(child) in open_nodes:
                raise TextRefused(_line(child), _RECURSIVE)
            stack.append((child, False, depth + 1))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


_TOO_MANY = (
    f"rule text stands for more than {MAX_RULE_VALUES:,} values once its YAML aliases are expanded"
)
_RECURSIVE = "a YAML alias refers to a value that contains it (a recursive alias)"


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing deep nesting before it costs: its scanner does work
    per open `[`/`{` for every token (quadratic), and its composer recurses per level."""

    _depth = 0

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise TextRefused(self.line + 1, _TOO_DEEP)
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise TextRefused(self.line + 1, _TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_FastLoader = getattr(yaml, "CSafeLoader", None)
_TOO_DEEP = f"the YAML nests lists and mappings more than {MAX_DEPTH} deep"


def compose(text: str) -> yaml.Node | None:
    """The text's YAML node graph (aliases still shared), nesting bounded: with libyaml
    when PyYAML has it (ten times faster, and it bounds nesting itself), else in Python."""
    loader = _FastLoader(text) if _FastLoader is not None else _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()
