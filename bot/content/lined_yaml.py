"""Safe YAML loading that remembers where every value came from.

Editors need "file:line: what is wrong", so mappings and strings carry their line, and a key
given twice is reported instead of silently overwritten (PyYAML's default).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class LineStr(str):
    line: int = 0


class LineDict(dict):
    line: int = 0
    key_lines: dict[str, int]
    duplicate_keys: list[tuple[str, int]]


class LineList(list):
    line: int = 0


@dataclass(frozen=True)
class YamlSyntaxError(Exception):
    file: Path
    line: int
    message: str


class _LinedLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that annotates nodes with 1-based line numbers."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        mapping.duplicate_keys = []
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            key = str(key) if not isinstance(key, (int, float, bool)) else key
            if key in mapping:
                mapping.duplicate_keys.append((str(key), key_node.start_mark.line + 1))
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[str(key)] = key_node.start_mark.line + 1
        return mapping

    def construct_lined_seq(self, node: yaml.SequenceNode) -> LineList:
        items = LineList(self.construct_object(child, deep=True) for child in node.value)
        items.line = node.start_mark.line + 1
        return items

    def construct_lined_str(self, node: yaml.ScalarNode) -> LineStr:
        value = LineStr(self.construct_scalar(node))
        value.line = node.start_mark.line + 1
        return value


_LinedLoader.add_constructor("tag:yaml.org,2002:map", _LinedLoader.construct_mapping)
_LinedLoader.add_constructor("tag:yaml.org,2002:seq", _LinedLoader.construct_lined_seq)
_LinedLoader.add_constructor("tag:yaml.org,2002:str", _LinedLoader.construct_lined_str)


def load_lined(path: Path) -> Any:
    """Parse one file; raise YamlSyntaxError with the line of the first syntax problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(path, 1, f"not UTF-8 text ({exc.reason})") from exc
    try:
        return yaml.load(text, Loader=_LinedLoader)  # noqa: S506 - _LinedLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(path, line, f"YAML syntax: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, 1, f"YAML: {exc}") from exc


def line_of(value: Any, default: int = 0) -> int:
    return getattr(value, "line", default)
