"""``GET /phone/single/explain?id=`` (Trova extension): why a search got its number, or none.

The explanation is the one ``trova explain`` prints (:mod:`trova.finder.explain`): the search's
normalised keys, the candidate people, their numbers and the rule that decided, computed now from
the contact store (upstream sources are not asked). An API caller sees it redacted: the numbers the
finder did not choose are described (line type, validity, sources, dates, why excluded) but not
given, and people with the same names at other companies are only counted, so an explanation never
reveals more numbers or people than the answer itself. ``trova explain`` shows everything to the
operator.

Authentication and the 404 texts are those of ``GET /phone/single``.
"""

from __future__ import annotations

import re
from typing import Any, cast

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from trova.accounts import service as accounts
from trova.batches import service as batches
from trova.errors import MissingId, SearchNotFound
from trova.finder.explain import Explanation, explain
from trova.store import Database

PATH = "/phone/single/explain"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
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


def explain_search(db: Database, api_key: str | None, search_id: str | None) -> dict[str, Any]:
    """The body of a 200: the stored result of the account's search and the explanation."""
    with db.read() as conn:
        account = accounts.authenticate(conn, api_key, phone=True)
        if search_id is None:
            raise SearchNotFound()
        _done, body = batches.get_single(conn, account, search_id)
        search = batches.normalise(body.get("params"))
    result = {key: body[key] for key in _RESULT_FIELDS if key in body}
    return {
        "id": body["id"],
        "params": body.get("params"),
        "result": result,
        "explanation": redacted(explain(db, search)),
    }


@router.get(
    PATH,
    summary="Why a search got its number, or none (Trova extension)",
    openapi_extra={"parameters": [
        {"name": "id", "in": "query", "required": True, "schema": {"type": "string"}},
    ]},
)
async def get_explanation(request: Request) -> Response:
    value = request.query_params.get("id")
    api_key = request.headers.get("x-api-key")
    db: Database = request.app.state.ctx.db
    if not value:
        await run_in_threadpool(_authenticated, db, api_key)
        raise MissingId()
    search_id = value.lower() if _UUID.match(value) else None
    body = await run_in_threadpool(explain_search, db, api_key, search_id)
    return Response(orjson.dumps(body), media_type="application/json")


def _authenticated(db: Database, api_key: str | None) -> None:
    with db.read() as conn:
        accounts.authenticate(conn, api_key, phone=True)
