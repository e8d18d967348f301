"""Tokens and sessions on both databases: only digests stored, revocation ends sessions,
one answer for every bad credential."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from runner.auth import BadToken, Role
from runner.store.models import api_sessions, api_tokens
from runner.store.queue import JobStore
from runner.store.tokens import TOUCH_EVERY_S, TokenStore

from .conftest import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(engine: Engine, clock: Clock) -> TokenStore:
    return TokenStore(engine, clock)


def test_a_token_is_stored_as_a_digest_and_authenticates(
    tokens: TokenStore, engine: Engine
) -> None:
    info, value = tokens.add("alice", Role.VIEWER)
    assert value.startswith(f"opr_{info.token_id}_")
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens)).one()
    assert value.split("_", 2)[2] not in str(tuple(row))  # the secret is not in the row
    assert len(row.digest) == 64
    principal = tokens.authenticate(value)
    assert principal is not None
    assert (principal.name, principal.role) == ("alice", Role.VIEWER)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # wrong secret
        lambda v: "opr_000000000000_" + v.split("_", 2)[2],  # unknown id
        lambda v: v[:-3],  # malformed
        lambda v: "",
        lambda v: "Bearer " + v,
        lambda v: v + "\x00",
    ],
    ids=["wrong-secret", "unknown-id", "malformed", "empty", "scheme", "nul"],
)
def test_anything_but_the_exact_token_is_refused(tokens: TokenStore, mangle: object) -> None:
    _, value = tokens.add("alice", Role.OPERATOR)
    assert tokens.authenticate(mangle(value)) is None  # type: ignore[operator]


def test_revoking_ends_the_token_and_its_sessions(tokens: TokenStore, engine: Engine) -> None:
    info, value = tokens.add("alice", Role.VIEWER)
    principal = tokens.authenticate(value)
    assert principal is not None
    session = tokens.open_session(principal, 3600)
    assert tokens.session(session) == principal
    revoked = tokens.revoke("alice")
    assert (revoked.token_id, revoked.revoked_at is not None) == (info.token_id, True)
    assert tokens.authenticate(value) is None
    assert tokens.session(session) is None
    with engine.connect() as conn:
        assert conn.execute(select(api_sessions)).all() == []
    assert tokens.revoke(info.token_id).token_id == info.token_id  # again: idempotent
    with pytest.raises(BadToken, match="no token 'alice'"):
        tokens.revoke("alice")  # by name: only live tokens


def test_an_ambiguous_name_is_refused_with_the_ids(tokens: TokenStore) -> None:
    first, _ = tokens.add("ci", Role.METRICS)
    second, _ = tokens.add("ci", Role.METRICS)
    with pytest.raises(BadToken, match="2 live tokens are named 'ci'") as caught:
        tokens.revoke("ci")
    assert first.token_id in str(caught.value)
    assert second.token_id in str(caught.value)
    tokens.revoke(second.token_id)
    assert tokens.revoke("ci").token_id == first.token_id


def test_sessions_expire_and_are_pruned(tokens: TokenStore, clock: Clock, engine: Engine) -> None:
    _, value = tokens.add("alice", Role.VIEWER)
    principal = tokens.authenticate(value)
    assert principal is not None
    old = tokens.open_session(principal, 60)
    clock.advance(61)
    assert tokens.session(old) is None
    fresh = tokens.open_session(principal, 60)  # opening one removes the expired ones
    with engine.connect() as conn:
        assert len(conn.execute(select(api_sessions)).all()) == 1
    assert tokens.session(fresh) == principal
    assert tokens.session("") is None
    assert tokens.session("x" * 1000) is None
    tokens.end_session(fresh)
    assert tokens.session(fresh) is None


def test_last_use_is_written_at_most_once_a_minute(tokens: TokenStore, clock: Clock) -> None:
    info, value = tokens.add("alice", Role.VIEWER)
    assert tokens.list()[0].last_used_at is None
    tokens.authenticate(value)
    first = tokens.list()[0].last_used_at
    assert first == clock.now
    clock.advance(TOUCH_EVERY_S / 2)
    tokens.authenticate(value)
    assert tokens.list()[0].last_used_at == first
    clock.advance(TOUCH_EVERY_S)
    tokens.authenticate(value)
    assert tokens.list()[0].last_used_at == clock.now
    assert [t.token_id for t in tokens.list()] == [info.token_id]


@pytest.mark.parametrize("name", ["", " lead", "x" * 129, "a\nb", "<script>"])
def test_bad_names_are_refused(tokens: TokenStore, name: str) -> None:
    with pytest.raises(BadToken, match="bad token name"):
        tokens.add(name, Role.VIEWER)


def test_jobs_filter_by_repository_with_paging(engine: Engine) -> None:
    store = JobStore(engine)
    for n in range(5):
        repo = "g/a" if n % 2 == 0 else "g/b"
        store.enqueue(f"k{n}", {"targets": ["m.py::f"]}, {"project_path": repo})
    assert store.repositories() == ["g/a", "g/b"]
    a = store.list(repository="g/a")
    assert len(a) == 3
    assert all(job.source["project_path"] == "g/a" for job in a)
    page = store.list(limit=2, offset=2)
    assert [job.id for job in page] == [job.id for job in store.list()][2:4]
