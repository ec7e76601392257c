"""GET /account/info: the credits of the key's account and its webhook URL."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from trova.api import bodies, schemas
from trova.api.deps import AnyAccount
from trova.api.responses import JsonResponse

router = APIRouter()


@router.get(
    "/account/info", responses={200: {"model": schemas.AccountInfo}, **schemas.ERRORS}, summary="Credits"
)
async def account_info(account: AnyAccount) -> Response:
    return JsonResponse(bodies.account_body(account))
