"""``trova bulk --why``: why each search that found nothing found nothing, from the server's explanations.

Only the unique searches that found nothing are explained (``GET /phone/single/explain``, a Trova
extension, free), a few at a time: an explanation is a handful of contact-store reads on the server,
and ``WHY_CONCURRENCY`` requests in flight keep a large file quick without crowding out the server's
other callers. A server that does not explain (Enrow answers 404) is asked once, not once per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trova.client import ApiError, Client

WHY_CONCURRENCY = 4
UNEXPLAINED = "no explanation: the server does not explain searches"
_DOC_REFERENCE = re.compile(r"\s*\(docs/[^)]*\)$")


def reason_of(body: Mapping[str, Any]) -> str:
    """The rule that decided, in words, without the reference to the documentation."""
    explanation = body.get("explanation")
    text = explanation.get("rule_text") if isinstance(explanation, Mapping) else None
    return _DOC_REFERENCE.sub("", str(text)) if text else "no reason given"


def explain_misses(
    client: Client, missed: Mapping[int, str], *, concurrency: int = WHY_CONCURRENCY,
    on_done: Callable[[int], None] = lambda _: None,
) -> dict[int, str]:
    """Unique search index -> why it found nothing, for every search of ``missed`` (index -> search id)."""
    if not missed:
        return {}
    items = list(missed.items())
    first_index, first_id = items[0]
    try:
        reasons = {first_index: reason_of(client.explain(first_id))}
    except ApiError as exc:
        if exc.status != 404:
            raise
        return dict.fromkeys(missed, UNEXPLAINED)
    on_done(1)
    texts: dict[str, str] = {}  # one string per distinct reason, however many rows share it

    def explain_one(item: tuple[int, str]) -> tuple[int, str]:
        text = reason_of(client.explain(item[1]))
        return item[0], texts.setdefault(text, text)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for done, (index, text) in enumerate(pool.map(explain_one, items[1:]), start=2):
            reasons[index] = text
            on_done(done)
    return reasons
