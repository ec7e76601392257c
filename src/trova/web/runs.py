"""The web app's uploads and runs, kept on disk under the data directory, one folder per account.

``<data>/accounts/<id>/uploads/<upload>/`` holds the lead file as uploaded, ``upload.json`` (its name,
the mapping chosen in the preview) and, once run, ``codes.bin`` (each row's search index, the
bulk tool's plan) and the ids of its batches; ``<data>/accounts/<id>/batches/<batch id>`` names the
upload a batch belongs to. What a batch found stays in the database: this is only the link from a
file's rows to their searches. Batches carry ``{"web_upload": <upload>}`` as their ``custom``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

_ID = re.compile(r"^[A-Za-z0-9_-]{10,64}$")


@dataclass(slots=True)
class Upload:
    id: str
    filename: str
    stored: str
    created_at: str
    mapping: dict[str, str] | None = None
    batch_ids: list[str] = field(default_factory=list)
    batch_size: int = 0
    rows: int = 0
    searches: int = 0
    invalid: int = 0
    reasons: list[str] = field(default_factory=list)
    final: dict[str, Any] | None = None
    """The run's counters once no batch of it is ongoing any more (they do not change after)."""

    @property
    def created(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.created_at)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Runs:
    """Uploads and runs of every account under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _account(self, account_id: int) -> Path:
        return self.root / "accounts" / str(int(account_id))

    def folder(self, account_id: int, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise KeyError(upload_id)
        return self._account(account_id) / "uploads" / upload_id

    def new_folder(self, account_id: int) -> tuple[str, Path]:
        upload_id = secrets.token_urlsafe(12)
        folder = self.folder(account_id, upload_id)
        folder.mkdir(parents=True)
        return upload_id, folder

    def save(self, account_id: int, upload: Upload) -> None:
        _write_atomic(self.folder(account_id, upload.id) / "upload.json", orjson.dumps(asdict(upload)))

    def get(self, account_id: int, upload_id: str) -> Upload | None:
        try:
            data = (self.folder(account_id, upload_id) / "upload.json").read_bytes()
        except (KeyError, FileNotFoundError):
            return None
        return Upload(**orjson.loads(data))

    def input_path(self, account_id: int, upload: Upload) -> Path:
        return self.folder(account_id, upload.id) / upload.stored

    def save_codes(self, account_id: int, upload: Upload, codes: array[int]) -> None:
        _write_atomic(self.folder(account_id, upload.id) / "codes.bin", codes.tobytes())

    def codes(self, account_id: int, upload: Upload) -> array[int]:
        codes = array("q")
        codes.frombytes((self.folder(account_id, upload.id) / "codes.bin").read_bytes())
        return codes

    def link_batches(self, account_id: int, upload: Upload) -> None:
        folder = self._account(account_id) / "batches"
        folder.mkdir(parents=True, exist_ok=True)
        for batch_id in upload.batch_ids:
            _write_atomic(folder / batch_id, upload.id.encode())

    def by_batch(self, account_id: int, batch_id: str) -> Upload | None:
        if not re.match(r"^[0-9a-f-]{36}$", batch_id):
            return None
        try:
            upload_id = (self._account(account_id) / "batches" / batch_id).read_text()
        except FileNotFoundError:
            return None
        return self.get(account_id, upload_id)

    def _pending(self, account_id: int) -> Path:
        return self._account(account_id) / "submitting"

    def mark_submitting(self, account_id: int, upload: Upload, batch_size: int) -> None:
        """Note, before the transaction that submits the upload's batches, that it may commit: a
        crash between that commit and :meth:`link_batches` is then found and repaired
        (``web.submitting.recover``)."""
        folder = self._pending(account_id)
        folder.mkdir(parents=True, exist_ok=True)
        note = {"batch_size": batch_size, "at": dt.datetime.now(dt.UTC).isoformat()}
        _write_atomic(folder / upload.id, orjson.dumps(note))

    def submitting(self, account_id: int) -> dict[str, dict[str, Any]]:
        """Upload id -> its note, for the uploads whose submission was started and not yet linked."""
        folder = self._pending(account_id)
        if not folder.is_dir():
            return {}
        notes = {}
        for child in folder.iterdir():
            if _ID.match(child.name):
                notes[child.name] = orjson.loads(child.read_bytes())
        return notes

    def clear_submitting(self, account_id: int, upload_id: str) -> None:
        (self._pending(account_id) / upload_id).unlink(missing_ok=True)

    def recent(self, account_id: int, limit: int = 20) -> list[Upload]:
        """The account's runs (uploads that were run), newest first."""
        folder = self._account(account_id) / "uploads"
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            upload = self.get(account_id, child.name)
            if upload is not None and upload.batch_ids:
                found.append(upload)
        found.sort(key=lambda u: u.created_at, reverse=True)
        return found[:limit]
