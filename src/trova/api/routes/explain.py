"""``GET /phone/single/explain?id=`` (Trova extension): why a search got its number, or none.

The explanation is the one ``trova explain`` prints (:mod:`trova.finder.explain`): the search's
normalised keys, the candidate people, their numbers and the rule that decided, computed now from
the contact store (upstream sources are not asked). An API caller sees it redacted: the numbers the
finder did not choose are described (line type, validity, sources, dates, why excluded) but not
given, and people with the same names at other companies are only counted, so an explanation never
reveals more numbers or people than the answer itself. ``trova explain`` shows everything to the
operator.

``id`` is a single search's id, or the ``id`` of one result of a bulk batch (``trova bulk --why``
explains the rows that found nothing this way). Authentication and the 404 texts are those of
``GET /phone/single``.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from trova.accounts.models import Account
from trova.api import schemas
from trova.api.deps import AppContext, Context, PhoneAccount, id_param
from trova.api.responses import JsonResponse
from trova.batches import service as batches
from trova.batches.events import single_result
from trova.errors import SearchNotFound
from trova.finder.explain import Explanation, explain

_RESULT_FIELDS = ("qualification", "number", "country", "line_type")

router = APIRouter()


def redacted(explanation: Explanation) -> dict[str, Any]:
    """:meth:`Explanation.to_dict` without what the answer does not already reveal."""
    full = explanation.to_dict()
    candidates = []
    for person in cast(list[dict[str, Any]], full["candidates"]):
        numbers = []
        for number in person["numbers"]:
            shown = {key: value for key, value in number.items() if key not in ("e164", "raw")}
            if number["chosen"]:
                shown["e164"] = number["e164"]
            numbers.append(shown)
        candidates.append({
            "has_linkedin": person["linkedin_key"] is not None,
            "chosen": any(number["chosen"] for number in person["numbers"]),
            "numbers": numbers,
        })
    return {
        "search": full["search"],
        "qualification": full["qualification"],
        "number": full["number"],
        "country": full["country"],
        "line_type": full["line_type"],
        "sources": full["sources"],
        "last_seen": full["last_seen"],
        "rule": full["rule"],
        "rule_text": full["rule_text"],
        "candidates": candidates,
        "namesakes_elsewhere": len(explanation.namesakes),
    }


def explain_search(ctx: Context, account: Account, search_id: str) -> dict[str, Any]:
    """The body of a 200: the stored result of the account's search and its explanation."""
    with ctx.db.read() as conn:
        body = single_result(batches.get_any_search(conn, account, search_id))
    search = batches.normalise(body.get("params"))
    return {
        "id": body["id"],
        "params": body.get("params"),
        "result": {key: body[key] for key in _RESULT_FIELDS if key in body},
        "explanation": redacted(explain(ctx.db, search, nicknames=ctx.settings.nicknames)),
    }


@router.get(
    "/phone/single/explain",
    openapi_extra=schemas.ID_PARAM,
    summary="Why a search got its number, or none (Trova extension)",
    responses={
        200: schemas.object_answer("The search's result and how it was found", "result", "explanation"),
        **schemas.ERRORS,
    },
)
async def get_explanation(request: Request, ctx: AppContext, account: PhoneAccount) -> Response:
    search_id = id_param(request)
    if search_id is None:
        raise SearchNotFound()
    return JsonResponse(await run_in_threadpool(explain_search, ctx, account, search_id))
