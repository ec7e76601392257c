"""Opt-out requests and operator actions on both dialects (RETURNING, JSON, nullable token)."""

from __future__ import annotations

from trova.accounts import operators as tokens
from trova.privacy import operators, optouts
from trova.store import Database


def test_requests_are_stored_pending_then_decided_and_cleared(db: Database) -> None:
    with db.write() as conn:
        first = optouts.add(conn, {"phone": "+33612345678", "linkedin_url": "https://linkedin.com/in/a"})
        second = optouts.add(conn, {"phone": "+33612345679"})
        operators.record(conn, None, "optout_request", f"#{first}")
    assert second == first + 1
    with db.write() as conn:
        assert [r.id for r in optouts.pending(conn)] == [first, second]
        entry = optouts.get_pending(conn, first)
        assert entry is not None and entry.details == {
            "phone": "+33612345678", "linkedin_url": "https://linkedin.com/in/a"
        }
        optouts.decide(conn, first, "approved")
    with db.read() as conn:
        assert optouts.get_pending(conn, first) is None
        assert [r.id for r in optouts.pending(conn)] == [second]
        actions = operators.recent(conn)
    assert [(a.action, a.subject, a.token_id) for a in actions] == [("optout_request", f"#{first}", None)]


def test_operator_tokens_are_stored_hashed(db: Database) -> None:
    with db.write() as conn:
        token = tokens.new_token(conn)
        token_id = tokens.token_id(conn, token)
        assert token_id is not None and tokens.token_exists(conn, token_id)
        assert tokens.token_id(conn, token + "x") is None
        assert tokens.token_id(conn, "trova_other") is None
        operators.record(conn, token_id, "topup", "acme", {"credits": 5})
        assert [(a.token_id, a.detail) for a in operators.recent(conn)] == [(token_id, {"credits": 5})]
