"""A small filesystem of its own (tmpfs) that a test can fill until writes fail with ENOSPC."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.databases import IN_CI


@contextmanager
def small_filesystem(path: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted at ``path`` for the block (mounting needs root: outside CI
    the test is skipped without it, in CI it fails)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs at {path}: {mounted.stderr.strip()}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path) -> Path:
    """Write ``path`` until its filesystem has no room left; returns it (delete it to free the room)."""
    chunk = b"\0" * 4096
    with path.open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(chunk)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return path
