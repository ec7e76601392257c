"""Running an upload: its batches submitted in one transaction, then linked to the upload on disk.

The batches and their credits commit in the database; the link from the upload to them (its
``upload.json``, ``codes.bin`` and the per-batch link files) is written on disk after. A crash
between the two would leave charged batches that no page leads to, and a preview whose **Find
phones** would charge them again. Three things close that gap:

* each batch's ``custom`` names its upload and its part (``{"web_upload": id, "web_part": n}``),
  in the transaction that creates it: the database alone knows which batches an upload became;
* a note (``<account>/submitting/<upload>``) is written before that transaction and removed once
  the link is on disk; a page that finds a note left behind looks the upload's batches up and
  links them (:func:`recover`), so the run shows on the home page and its preview leads to it;
* the submitting transaction itself first looks for batches of that upload, and links those
  instead of submitting (and charging) again.
"""

from __future__ import annotations

import datetime as dt
import os

from trova.accounts.models import Account
from trova.batches import lookups
from trova.batches import service as batches
from trova.bulk.plan import Plan
from trova.errors import ApiError
from trova.jobs.notify import notify_work
from trova.web import leads
from trova.web.leads import LeadsError
from trova.web.runs import Upload
from trova.web.site import Web

STALE_NOTE_S = 60.0
"""A note with no batch behind it after this long belongs to a transaction that never committed
(no submission takes that long); it is then dropped."""
CRASH_EXIT_CODE = 70


def run(web: Web, account: Account, entry: Upload, plan: Plan) -> None:
    """Submit every batch of the plan in one transaction (all are paid for, or none), then link them."""
    submissions = [
        batches.read_bulk(
            {"searches": plan.chunk_searches(chunk), "custom": {"web_upload": entry.id, "web_part": chunk}},
            web.settings,
        )
        for chunk in range(plan.chunk_count)
    ]
    web.runs.mark_submitting(account.id, entry, plan.batch_size)
    try:
        with web.db.write() as conn:
            ids = [batch_id for batch_id, _part in lookups.batches_of_upload(conn, account.id, entry.id)]
            if not ids:
                ids = [batches.submit(conn, account, each, web.settings).id for each in submissions]
    except ApiError:
        web.runs.clear_submitting(account.id, entry.id)  # refused: the transaction rolled back
        raise
    if web.settings.web_crash_after_submit:
        os._exit(CRASH_EXIT_CODE)
    link(web, account, entry, plan, ids)
    notify_work()


def link(web: Web, account: Account, entry: Upload, plan: Plan, ids: list[str]) -> None:
    """Write the link from the upload to its committed batches, then drop its note."""
    entry.batch_ids, entry.batch_size = ids, plan.batch_size
    entry.rows, entry.searches, entry.invalid = plan.rows, len(plan.searches), plan.unusable_rows
    entry.reasons = list(plan.reasons)
    web.runs.save_codes(account.id, entry, plan.codes)
    web.runs.save(account.id, entry)
    web.runs.link_batches(account.id, entry)
    web.runs.clear_submitting(account.id, entry.id)


def recover(web: Web, account: Account) -> None:
    """Link the uploads whose batches committed before a crash; drop the notes of those that did not."""
    notes = web.runs.submitting(account.id)
    for upload_id, note in notes.items():
        entry = web.runs.get(account.id, upload_id)
        if entry is None or entry.batch_ids:
            web.runs.clear_submitting(account.id, upload_id)
            continue
        with web.db.read() as conn:
            ids = [batch_id for batch_id, _part in lookups.batches_of_upload(conn, account.id, upload_id)]
        if ids:
            try:
                table = leads.open_table(web.runs.input_path(account.id, entry))
                plan = leads.preview(table, entry.mapping, int(note["batch_size"])).plan
            except LeadsError:
                continue  # the file is gone or unreadable: its batches stay listed by GET /phone/bulks
            link(web, account, entry, plan, ids)
        elif _age_s(str(note.get("at", ""))) > STALE_NOTE_S:
            web.runs.clear_submitting(account.id, upload_id)


def _age_s(stamp: str) -> float:
    try:
        return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return float("inf")
