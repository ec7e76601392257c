"""Operator tokens: what signs an operator in to the web console (``/admin``).

``trova admin token`` prints a new token once; only its SHA-256 digest is stored, as for API keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store import utcnow
from trova.store.tables import operator_tokens

TOKEN_PREFIX = "trova_op_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(conn: Connection) -> str:
    """Store (the digest of) a new operator token and return the token, shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(operator_tokens).values(
            token_hash=_digest(token), token_prefix=token[:16], created_at=utcnow()
        )
    )
    return token


def token_id(conn: Connection, token: str | None) -> int | None:
    """The id of a valid operator token, else ``None``."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(token)
    row = conn.execute(
        sa.select(operator_tokens.c.id, operator_tokens.c.token_hash).where(
            operator_tokens.c.token_hash == digest
        )
    ).first()
    if row is None or not hmac.compare_digest(str(row.token_hash), digest):
        return None
    return int(row.id)


def token_exists(conn: Connection, token_id: int) -> bool:
    found = conn.execute(sa.select(operator_tokens.c.id).where(operator_tokens.c.id == token_id)).first()
    return found is not None
