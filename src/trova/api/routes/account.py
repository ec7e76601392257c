"""GET /account/info: the credits of the key's account and its webhook URL."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import Response

from trova.api import bodies, schemas
from trova.api.deps import app_context, authenticate, in_hot_thread
from trova.api.responses import JsonResponse

router = APIRouter()


@router.get(
    "/account/info", responses={200: {"model": schemas.AccountInfo}, **schemas.ERRORS}, summary="Credits"
)
async def account_info(request: Request) -> Response:
    """Any valid key, phone access or not; the balances are read fresh (never from the key cache),
    in one trip to the thread pool and without a dependency for FastAPI to solve."""
    ctx = app_context(request)
    account = await in_hot_thread(ctx, partial(authenticate, ctx, request, phone=False))
    return JsonResponse(bodies.account_body(account))
