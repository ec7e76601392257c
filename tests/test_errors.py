"""The tree drawn in ``trova.errors``' docstring is the real class hierarchy, statuses and texts included."""

from __future__ import annotations

import re

import pytest

from trova import errors
from trova.errors import ApiError, OperatorError, TooManySearches, TrovaError

LINE = re.compile(
    r'^    (?P<indent>(?:  )*)[*x+\-·] (?P<name>\w+)(?:\s+(?P<status>\d{3})\s+"(?P<message>.*)")?$'
)

Node = tuple[str, int | None, str | None, tuple["Node", ...]]


def _drawn() -> list[tuple[int, str, int | None, str | None]]:
    assert errors.__doc__ is not None
    rows = []
    for line in errors.__doc__.splitlines():
        match = LINE.match(line)
        if match:
            status = match["status"]
            rows.append((len(match["indent"]) // 2, match["name"], int(status) if status else None,
                         match["message"]))
    return rows


def _drawn_tree() -> Node:
    rows = _drawn()
    stack: list[tuple[int, str, int | None, str | None, list[Node]]] = []
    root: Node | None = None

    def close() -> None:
        nonlocal root
        _depth, name, status, message, children = stack.pop()
        node: Node = (name, status, message, tuple(children))
        if stack:
            stack[-1][4].append(node)
        else:
            root = node

    for depth, name, status, message in rows:
        while stack and stack[-1][0] >= depth:
            close()
        assert len(stack) == depth, f"{name} is drawn {depth} levels deep under {len(stack)} parents"
        stack.append((depth, name, status, message, []))
    while stack:
        close()
    assert root is not None
    return root


def _real_tree(cls: type[TrovaError]) -> Node:
    status = cls.status_code if issubclass(cls, ApiError) else None
    message = cls.message if issubclass(cls, ApiError) else None
    children = tuple(_real_tree(sub) for sub in cls.__subclasses__())
    return (cls.__name__, status, message, children)


def _sorted(node: Node) -> Node:
    name, status, message, children = node
    return (name, status, message, tuple(sorted((_sorted(c) for c in children), key=lambda c: c[0])))


def test_the_drawing_is_the_class_hierarchy() -> None:
    assert _drawn(), "no tree found in the docstring of trova.errors"
    assert _sorted(_drawn_tree()) == _sorted(_real_tree(TrovaError))


def test_every_drawn_class_is_public_in_the_module() -> None:
    for _depth, name, _status, _message in _drawn():
        assert isinstance(getattr(errors, name, None), type), name


def test_operator_errors_carry_no_http_status() -> None:
    def walk(cls: type[TrovaError]) -> list[type[TrovaError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    for cls in walk(OperatorError):
        assert not hasattr(cls, "status_code"), cls.__name__
        assert not issubclass(cls, ApiError), cls.__name__


@pytest.mark.parametrize("limit", [3000, 250])
def test_the_batch_limit_is_quoted_from_the_caller(limit: int) -> None:
    assert TooManySearches(limit).message == f"Too many searches. Limit is currently at {limit} per batch."
