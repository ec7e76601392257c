"""Sessions and CSRF of the web app: signed cookies, never the API key.

The session cookie carries the account id and its key prefix (so rotating the key ends every
session), signed with the session secret and dated (``TROVA_WEB_SESSION_MAX_AGE_S``). Every form
carries the CSRF token of the ``trova_csrf`` cookie (double submit, the token itself signed), and a
POST whose ``Origin`` names another site is refused.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from trova.settings import Settings

SESSION_COOKIE = "trova_session"
CSRF_COOKIE = "trova_csrf"
CSRF_FIELD = "csrf_token"
SECRET_FILE = "session-secret"


def data_dir(settings: Settings) -> Path:
    """``TROVA_WEB_DATA_DIR``, else ``trova-web`` beside the SQLite file (``./trova-web`` otherwise)."""
    if settings.web_data_dir is not None:
        return settings.web_data_dir
    url = settings.database_url
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[1].split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path).resolve().parent / "trova-web"
    return Path("trova-web").resolve()


def session_secret(settings: Settings) -> str:
    """``TROVA_WEB_SESSION_SECRET``, else a random secret generated once and kept in the data dir."""
    if settings.web_session_secret:
        return settings.web_session_secret
    folder = data_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True, slots=True)
class Session:
    account_id: int
    key_prefix: str


class Sessions:
    """Signs and reads the session and CSRF cookies of one app."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self.max_age_s = max_age_s
        self._session = URLSafeTimedSerializer(secret, salt="trova-web-session")
        self._csrf = URLSafeTimedSerializer(secret, salt="trova-web-csrf")

    # --- session -----------------------------------------------------------------------------

    def read(self, request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            data = self._session.loads(token, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, list) or len(data) != 2:
            return None
        return Session(int(data[0]), str(data[1]))

    def start(self, request: Request, response: Response, session: Session) -> None:
        token = self._session.dumps([session.account_id, session.key_prefix])
        response.set_cookie(
            SESSION_COOKIE, token, max_age=self.max_age_s, httponly=True, samesite="lax",
            secure=request.url.scheme == "https", path="/",
        )

    def end(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
        )

    # --- CSRF --------------------------------------------------------------------------------

    def csrf_token(self, request: Request) -> str:
        """The token of this browser (from its cookie), or a new one :meth:`keep_csrf` will set."""
        current = request.cookies.get(CSRF_COOKIE)
        if current and self._valid_csrf(current):
            return current
        fresh: str = getattr(request.state, "new_csrf", None) or self._csrf.dumps(secrets.token_urlsafe(24))
        request.state.new_csrf = fresh
        return fresh

    def keep_csrf(self, request: Request, response: Response) -> None:
        fresh = getattr(request.state, "new_csrf", None)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE, fresh, httponly=True, samesite="lax",
                secure=request.url.scheme == "https", path="/",
            )

    def _valid_csrf(self, token: str) -> bool:
        try:
            self._csrf.loads(token)
        except BadSignature:
            return False
        return True

    def check_post(self, request: Request, submitted: str | None) -> bool:
        """True when the form's token matches the cookie's and ``Origin`` (if sent) is this site."""
        origin = request.headers.get("origin")
        if origin is not None and not same_origin(origin, request):
            return False
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or not submitted or not self._valid_csrf(cookie):
            return False
        return hmac.compare_digest(cookie, submitted)


def same_origin(origin: str, request: Request) -> bool:
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)
