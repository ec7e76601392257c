"""A small JSON path: ``$.data.phones[*].number``, ``results[0].phone``, ``items.*.value``.

Steps are object keys (``.key`` or ``["key"]``), list positions (``[0]``, ``[-1]``) and wildcards
(``[*]`` or ``.*``, over a list's items or an object's values). :func:`select` returns every match
with the wildcard positions that led to it, so a type or date path is paired with its number by
position (``phones[2].number`` with ``phones[2].type``) even when some items lack a field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trova.errors import SourceConfigError

_STEP = re.compile(
    r"""\.(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)   # .key
      | \.(?P<star>\*)                        # .*
      | \[(?P<index>-?\d+)\]                  # [0]
      | \[(?P<wild>\*)\]                      # [*]
      | \[(?P<q>["'])(?P<quoted>.*?)(?P=q)\]  # ["key with spaces"]
    """,
    re.VERBOSE,
)

WILDCARD = object()


@dataclass(frozen=True, slots=True)
class Match:
    positions: tuple[Any, ...]
    value: Any


def parse_path(path: str) -> tuple[Any, ...]:
    """The steps of ``path`` (str keys, int positions, :data:`WILDCARD`); a bad path is a config error."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if text and not text.startswith((".", "[")):
        text = "." + text
    steps: list[Any] = []
    at = 0
    while at < len(text):
        found = _STEP.match(text, at)
        if found is None:
            raise SourceConfigError(f"invalid JSON path {path!r} at {text[at:]!r}")
        if found.group("key") is not None:
            steps.append(found.group("key"))
        elif found.group("quoted") is not None:
            steps.append(found.group("quoted"))
        elif found.group("index") is not None:
            steps.append(int(found.group("index")))
        else:
            steps.append(WILDCARD)
        at = found.end()
    if not steps:
        raise SourceConfigError(f"invalid JSON path {path!r}: it selects nothing")
    return tuple(steps)


def select(document: Any, path: str) -> list[Match]:
    """Every value at ``path`` in ``document``, in document order; missing steps select nothing."""
    found = [Match((), document)]
    for step in parse_path(path):
        found = [child for match in found for child in _children(match, step)]
    return found


def _children(match: Match, step: Any) -> list[Match]:
    value = match.value
    if step is WILDCARD:
        if isinstance(value, list):
            return [Match((*match.positions, i), item) for i, item in enumerate(value)]
        if isinstance(value, Mapping):
            return [Match((*match.positions, key), item) for key, item in value.items()]
        return []
    if isinstance(step, int):
        if isinstance(value, list) and -len(value) <= step < len(value):
            return [Match(match.positions, value[step])]
        return []
    if isinstance(value, Mapping) and step in value:
        return [Match(match.positions, value[step])]
    return []
