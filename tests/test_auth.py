"""The pure core: token format, constant-time match, roles, cookie attributes."""

from __future__ import annotations

import pytest

from runner import auth
from runner.auth import BadToken, Principal, Role


def test_a_new_token_splits_back_into_its_id_and_secret() -> None:
    made = auth.new_token()
    parts = auth.split(made.value)
    assert parts is not None
    token_id, secret = parts
    assert token_id == made.token_id
    assert auth.digest(secret) == made.digest
    assert auth.matches(secret, made.digest)
    assert not auth.matches(secret, None)
    assert not auth.matches(secret + "x", made.digest)
    assert auth.new_token().value != made.value


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_header(header: str | None, expected: str | None) -> None:
    assert auth.bearer(header) == expected


def test_roles_are_ordered() -> None:
    viewer = Principal("id", "n", Role.VIEWER)
    assert viewer.may(Role.METRICS)
    assert viewer.may(Role.VIEWER)
    assert not viewer.may(Role.OPERATOR)
    assert not Principal("id", "n", Role.METRICS).may(Role.VIEWER)
    assert Principal("id", "n", Role.OPERATOR).may(Role.OPERATOR)
    with pytest.raises(BadToken, match="unknown role 'admin'"):
        auth.parse_role("admin")


def test_the_cookie_is_httponly_strict_and_secure_over_tls() -> None:
    plain = auth.session_cookie("v", 60, secure=False)
    assert plain == "optirunner_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
    assert auth.session_cookie("v", 60, secure=True).endswith("; Secure")
    assert "Max-Age=0" in auth.cleared_cookie(secure=False)


def test_a_token_in_any_text_is_redacted_by_its_shape() -> None:
    from runner.telemetry.redact import Redactor

    value = auth.new_token().value
    assert Redactor().redact(f"token {value} for the dashboard") == (
        "token [REDACTED:optirunner-api-token] for the dashboard"
    )
