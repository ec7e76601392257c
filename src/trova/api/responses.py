"""The API's responses: JSON serialised with orjson, and the one error envelope ``{"message": ...}``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class JsonResponse(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    """The only shape an error ever takes on the wire, 4xx and 5xx alike: ``{"message": ...}``."""
    return JsonResponse({"message": message}, status_code=status_code, headers=headers)
