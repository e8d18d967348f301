"""Bad input is refused with the right status before anything is parsed or queued."""

from __future__ import annotations

import base64
import json

import pytest

from runner.config import ServiceSettings
from runner.webhooks.receive import receive
from runner.webhooks.verify import (
    Rejected,
    check_standard_signature,
    parse_json,
    standard_signature,
)

from .conftest import hook_settings, load_delivery

NOW = 1741084200.0
KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def status_of(forge: str, headers: dict[str, str], body: bytes, settings: ServiceSettings) -> int:
    with pytest.raises(Rejected) as info:
        receive(forge, settings, headers, body, NOW)
    return info.value.status


def test_wrong_gitlab_token_is_401(settings: ServiceSettings) -> None:
    headers, body = load_delivery("gitlab", "issue_open")
    headers["X-Gitlab-Token"] = "test-gitlab-webhook-tokeN"
    assert status_of("gitlab", headers, body, settings) == 401


def test_missing_gitlab_token_is_401(settings: ServiceSettings) -> None:
    headers, body = load_delivery("gitlab", "issue_open")
    del headers["X-Gitlab-Token"]
    assert status_of("gitlab", headers, body, settings) == 401


def test_unconfigured_forge_refuses_everything() -> None:
    headers, body = load_delivery("gitlab", "issue_open")
    assert status_of("gitlab", headers, body, ServiceSettings()) == 401
    headers, body = load_delivery("jira", "cloud_issue_created")
    assert status_of("jira", headers, body, ServiceSettings()) == 401


def test_jira_bad_signature_is_401(settings: ServiceSettings) -> None:
    headers, body = load_delivery("jira", "cloud_issue_created")
    # One changed byte of the body: the signature no longer matches.
    assert status_of("jira", headers, body.replace(b"OPT-42", b"OPT-43"), settings) == 401


def test_jira_missing_or_malformed_signature_is_401(settings: ServiceSettings) -> None:
    headers, body = load_delivery("jira", "cloud_issue_created")
    for value in (None, "sha1=abc", "sha256="):
        changed = {k: v for k, v in headers.items() if k != "X-Hub-Signature"}
        if value is not None:
            changed["X-Hub-Signature"] = value
        assert status_of("jira", changed, body, settings) == 401


def test_oversize_body_is_413() -> None:
    headers, body = load_delivery("gitlab", "issue_open")
    assert status_of("gitlab", headers, body, hook_settings(max_body_bytes=len(body) - 1)) == 413


def test_wrong_content_type_is_415(settings: ServiceSettings) -> None:
    headers, body = load_delivery("gitlab", "issue_open")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert status_of("gitlab", headers, body, settings) == 415
    del headers["Content-Type"]
    assert status_of("gitlab", headers, body, settings) == 415


def test_content_type_with_charset_is_accepted(settings: ServiceSettings) -> None:
    headers, body = load_delivery("gitlab", "issue_open")
    headers["content-type"] = "application/json; charset=utf-8"
    del headers["Content-Type"]
    receive("gitlab", settings, headers, body, NOW)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe{}", b"[1, 2]", b""],
    ids=["malformed", "utf16", "array", "empty"],
)
def test_malformed_body_is_400(settings: ServiceSettings, body: bytes) -> None:
    headers, _ = load_delivery("gitlab", "issue_open")
    assert status_of("gitlab", headers, body, settings) == 400


def test_auth_is_checked_before_json() -> None:
    # An unauthenticated sender learns nothing about the parser.
    with pytest.raises(Rejected) as info:
        receive("gitlab", hook_settings(), {"Content-Type": "application/json"}, b"{", NOW)
    assert info.value.status == 401


def test_parse_json_accepts_an_object() -> None:
    assert parse_json(json.dumps({"a": "ü"}).encode()) == {"a": "ü"}


# -- Standard Webhooks ---------------------------------------------------------------------
def signed_headers(body: bytes, ts: int, key: str = KEY, msg_id: str = "msg_1") -> dict[str, str]:
    raw = base64.b64decode(key)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": "v1,bogus " + standard_signature(raw, msg_id, str(ts), body),
    }


def test_standard_signature_accepts_a_valid_one() -> None:
    body = b'{"a": 1}'
    check_standard_signature(signed_headers(body, int(NOW)), body, "whsec_" + KEY, NOW)


def test_standard_signature_known_vector() -> None:
    # Test vector of the Standard Webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - a public test vector
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    check_standard_signature(headers, body, secret, 1614265330.0)


@pytest.mark.parametrize("skew", [-301, 301])
def test_standard_signature_outside_tolerance_is_401(skew: int) -> None:
    body = b"{}"
    with pytest.raises(Rejected, match="tolerance"):
        check_standard_signature(signed_headers(body, int(NOW) + skew), body, KEY, NOW)


def test_standard_signature_tampered_body_is_401() -> None:
    headers = signed_headers(b"{}", int(NOW))
    with pytest.raises(Rejected, match="bad signature"):
        check_standard_signature(headers, b'{"x": 1}', KEY, NOW)


def test_standard_signature_missing_headers_is_401() -> None:
    with pytest.raises(Rejected, match="missing"):
        check_standard_signature({}, b"{}", KEY, NOW)


def test_gitlab_with_signing_key_requires_the_signature() -> None:
    settings = hook_settings(
        gitlab={"token": "test-gitlab-webhook-token", "signing_key": "whsec_" + KEY}
    )
    headers, body = load_delivery("gitlab", "issue_open")
    assert status_of("gitlab", headers, body, settings) == 401
    headers.update(signed_headers(body, int(NOW)))
    receive("gitlab", settings, headers, body, NOW)


# -- found by tests/webhooks/test_openapi_fuzz.py: each was a 500 ----------------------------
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"id": ' + b"9" * 5000 + b"}", "number too large"),  # int() refuses > 4300 digits
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),  # RecursionError
        (b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}", "nested"),  # parses, too deep to handle
        (b'{"id": "\\ud800"}', "surrogate"),  # no database or log takes it
        (b'{"a": "x\\uDFFF"}', "surrogate"),
    ],
    ids=["huge-int", "deep-recursion", "deep", "lone-surrogate", "lone-low-surrogate"],
)
def test_parse_json_refuses_what_the_rest_cannot_handle(body: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason) as info:
        parse_json(body)
    assert info.value.status == 400


def test_parse_json_keeps_surrogate_pairs_and_moderate_nesting() -> None:
    # A pair is one character; an escaped backslash before "ud8" is no escape at all.
    assert parse_json(b'{"e": "\\ud83d\\ude00", "path": "C:\\\\ud800"}') == {
        "e": "\U0001f600",
        "path": "C:\\ud800",
    }
    nested = parse_json(b'{"a": ' + b"[" * 60 + b"1" + b"]" * 60 + b"}")["a"]
    for _ in range(59):
        nested = nested[0]
    assert nested == [1]


def test_huge_standard_timestamp_is_401_not_an_overflow() -> None:
    body = b"{}"
    headers = signed_headers(body, 10**400)  # `now - sent` overflowed a float
    with pytest.raises(Rejected, match="tolerance") as info:
        check_standard_signature(headers, body, KEY, NOW)
    assert info.value.status == 401
