from __future__ import annotations

import base64
import json
import sysconfig
from pathlib import Path
from urllib.parse import quote

import pytest

from runner.telemetry import redact as redact_module
from runner.telemetry.redact import FAILED, Redactor, base64_cores
from runner.telemetry.rules import card_ok, has_sequence, iban_ok, luhn_ok

# A copy of ../shared/fixtures/redaction/corpus.jsonl (MIT, from gitleaks; provenance in
# fixtures/redaction-corpus.README.md), so that CI on a clean clone runs this test.
CORPUS = Path(__file__).parent / "fixtures" / "redaction-corpus.jsonl"
# Test credentials are assembled at run time so that no scanner mistakes them for leaks.
GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
GLPAT = "glpat-" + "Zq8rT2vX6nB4mK9pL3sW"
AKIA = "AKIA" + "QYLPMN5HJUK7W2RS"
STRIPE = "sk_live_" + "51HvT9qLm3Xk8Pz2Rw7Nc4Bd"
SLACK = "xoxb-" + "263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1"
JWT = (
    "eyJhbGciOiJIUzI1NiJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
KEY_BODY = base64.b64encode(bytes(range(256)) * 3).decode()
# Twitter/X app-only bearer: zero bytes (`A`s), then a random, %-encoded tail.
TWITTER = (
    "A" * 22
    + "kPNRC8scuejiQ8Dlb7GiklQexwoNvow2kA129Wy3e6q0kyV89qn2mu9QCd41y"
    + ("Are2WikOkqIzuH6VCbo1UJz%9fZdSB8ZXkgg")
)
SLACK_LEGACY = "xoxa-2-511111111-31111111111-3111111111111-" + "e039d02840a0b9379c"
CLOUDFLARE = "oj9Yoyq0zmOyWmPPob1aoY5YSNNuJ0fb" + "ZSOURBlX"
ANTHROPIC_BODY = "Zq8rT2vX6nB4mK9pL3sW-x" * 4 + "q7Zq8"  # 93 characters
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(KEY_BODY[i : i + 64] for i in range(0, len(KEY_BODY), 64))
    + "\n-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token={GHP} done", GHP),
        (f"git push https://oauth2:{GLPAT}@gitlab.example.org/x.git", GLPAT),
        (f"aws says {AKIA} is not authorized", AKIA),
        (f"stripe.error: invalid key {STRIPE}", STRIPE),
        (f"posting with {SLACK}", SLACK),
        (f"Authorization: Bearer {JWT}", JWT),
        (f"key:\n{PRIVATE_KEY}\nend", KEY_BODY[64:128]),
        ('DB_PASSWORD = "Xk9#mQ2vLp7!wR4z"', "Xk9#mQ2vLp7!wR4z"),
        (
            '{"client_secret": "0a9f8e7d6c5b4a3928170f6e5d4c3b2a"}',
            "0a9f8e7d6c5b4a3928170f6e5d4c3b2a",
        ),
        ("postgres://app:Hunter2Hunter2@db.internal:5432/app", "Hunter2Hunter2"),
        (f"curl -H 'Authorization: Bearer {TWITTER}'", TWITTER),
        (f'twitterToken = "{TWITTER}"', TWITTER),
        (f"key sk-ant-api03-{ANTHROPIC_BODY}AA rejected", ANTHROPIC_BODY),
        (f'"access_token": "{SLACK_LEGACY}"', SLACK_LEGACY),  # its ids repeat digits
        ('discordToken := "278604426262251855"', "278604426262251855"),  # 2.77 bits/char
        ('SUMO_ACCESS_ID = "suGyI5imvADdvU"', "suGyI5imvADdvU"),
        (f'cloudflare: "{CLOUDFLARE}"', CLOUDFLARE),
        (f'client = Artifactory("artifactory", "{CLOUDFLARE.lower()}x1")', CLOUDFLARE.lower()),
        (
            "kind: ConfigMap\ndata:\n  a: b\n---\nkind: Secret\ndata:\n  pw: UyFCXCpkJHpEc2I9\n",
            "UyFCXCpkJHpEc2I9",
        ),
    ],
)
def test_credential_formats_are_masked(text: str, secret: str) -> None:
    out = Redactor().redact(text)
    assert secret not in out
    assert "[REDACTED:" in out


@pytest.mark.parametrize(
    "text",
    [
        "def token(self): return self._next_token()",
        'password = getpass.getpass("Password: ")',
        "api_key = os.environ['API_KEY']",
        "key = 'HKEY_LOCAL_MACHINE'",
        'token = "${GITLAB_TOKEN}"',
        "sha = 3f786850e387550fdab836ed7e6dc881de23001b",
        "ran 1234 tests in 5.6s, 12 candidates, speedup 1.37x",
        "access_id = self.access_id",
        'client_id = request.args["client_id"]',
        'cloudflare: "https://api.cloudflare.com/client/v4"',
        "cloudflare_zone_id: 023e105f4ecef8ad9ca31a8372d0c353",  # a public id
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        # a token whose random part was masked out or is missing
        '"token4": "xoxp-572370529330-573807301142-572331691188-' + "#" * 20 + '"',
        '"token2": "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXX"',
        # Anthropic keys are `sk-ant-api03-` + 93 characters + `AA`: shorter, or another end
        "sk-ant-api03-" + "Zq8rT2vX6nB4mK9pL3sW-" * 3 + "AA",
        "sk-ant-api03-" + ANTHROPIC_BODY + "BB",
        # the alphabet typed out: an example, not a key
        "AIzaSy" + "abcdefghijklmnopqrstuvwxyz1234567",
        "secret_key => sk_abcdefghijklmnopqrstuvwxyz123",
        # a Secret's base64 rule stays inside the YAML document that is the Secret
        "kind: Secret\nmetadata:\n  name: s\n---\nkind: ConfigMap\ndata:\n  key: secret/mysecret\n",
        "discord=000000000000000000",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_alphabet_runs() -> None:
    assert has_sequence("sk_abcdefghijklmnopqrstuvwxyz123")
    assert has_sequence("xx-ABCDEFGHIJKLMNOPQR-xx")
    assert not has_sequence("0123456789ABCDEFGHIJ")  # 9 and A are not neighbours
    assert not has_sequence("12345678-ABCD-ABCD-ABCD-1234567890AB")  # a real-format test key
    assert not has_sequence("abc123xyz-456def789ghij-klmnopqrstuvwx")


def test_known_secrets_in_every_encoding() -> None:
    secret = "s3cr3t-Value/with+odd=chars"  # noqa: S105 - test value
    redactor = Redactor([secret, "short"])
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    for text in (
        f"echo {secret}",
        f"Authorization: Basic {basic}",
        f"url?p={quote(secret, safe='')}",
        json.dumps({"v": secret}),
        f"b64 {base64.urlsafe_b64encode(b'xx' + secret.encode()).decode()}",
    ):
        out = redactor.redact(text)
        assert secret not in out, text
        assert basic not in out, text
        assert "[REDACTED:" in out
    assert redactor.redact("short words stay") == "short words stay"


def test_base64_cores_cover_every_alignment() -> None:
    secret = b"correct horse battery"
    cores = base64_cores(secret)
    for prefix in (b"", b"a", b"ab", b"abc"):
        encoded = base64.b64encode(prefix + secret + b"tail").decode()
        assert any(core in encoded for core in cores)


def test_stream_masks_secrets_split_across_writes() -> None:
    secret = "Zk8pQ2mX9vL4rT7w-known"  # noqa: S105 - test value
    stream = Redactor([secret]).stream()
    chunks = ["build log ", "line\n" * 300, "value=Zk8pQ2m", "X9vL4rT7w-kno", "wn and ", GHP[:10]]
    chunks += [GHP[10:], "\n", "more\n" * 400]
    out = "".join(stream.feed(c) for c in chunks) + stream.flush()
    assert secret not in out
    assert GHP not in out
    assert out.count("[REDACTED:") == 2
    assert out.startswith("build log line\n")


def test_stream_holds_a_private_key_until_its_end() -> None:
    stream = Redactor().stream()
    lines = PRIVATE_KEY.splitlines(keepends=True)
    out = "".join(stream.feed(line) for line in ["noise\n" * 500, *lines, "\nafter\n"])
    out += stream.flush()
    assert KEY_BODY[:64] not in out
    assert "[REDACTED:private-key]" in out
    assert out.endswith("after\n")


def test_pii_is_opt_in() -> None:
    card = "4111 1111 1111 1111"
    iban = "GB82 WEST 1234 5698 7654 32"
    text = f"mail jane.doe@example.org, card {card}, iban {iban}, order 4111111111111112"
    assert Redactor().redact(text) == text
    out = Redactor(pii=True).redact(text)
    assert "jane.doe@example.org" not in out
    assert card not in out
    assert iban not in out
    assert "4111111111111112" in out  # fails the Luhn check


def test_checksums() -> None:
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")
    assert card_ok("4111-1111-1111-1111")
    assert not card_ok("1111111111111111")
    assert iban_ok("DE89370400440532013000")
    assert not iban_ok("DE89370400440532013001")


def test_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor()

    def boom(*_args: object) -> list[tuple[int, int, str]]:
        raise RuntimeError("bug")

    monkeypatch.setattr(redact_module, "rule_spans", boom)
    assert redactor.redact(f"x {GHP}") == FAILED
    assert redactor.redact_value({"a": ["b"], "n": 3}) == {"a": [FAILED], "n": 3}
    stream = redactor.stream()
    assert stream.feed("anything") == FAILED


def test_sensitive_keys_and_nested_values() -> None:
    out = Redactor().redact_value(
        {"password": "hunter2", "tokens": 12, "nested": [{"msg": f"use {GHP}"}], "ok": True}
    )
    assert out["password"] == "[REDACTED:sensitive-key]"  # noqa: S105 - a placeholder
    assert out["tokens"] == 12
    assert out["ok"] is True
    assert GHP not in out["nested"][0]["msg"]


@pytest.mark.skipif(not CORPUS.is_file(), reason="shared redaction corpus not present")
def test_corpus_regression() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    redactor = Redactor()
    positives = [r for r in rows if r["secret"]]
    negatives = [r for r in rows if not r["secret"]]
    masked = sum(r["value"] not in redactor.redact(r["text"]) for r in positives)
    false_positives = sum(redactor.redact(r["text"]) != r["text"] for r in negatives)
    detected = sum(redactor.redact(r["text"]) != r["text"] for r in positives)
    assert detected / len(positives) >= 0.99  # 811/811 measured
    assert masked / len(positives) >= 0.99
    assert false_positives / len(negatives) <= 0.10  # 21/240 measured


def test_clean_stdlib_source_has_few_false_positives() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    redactor = Redactor()
    total = findings = 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        findings += len(redactor.spans(text))
        total += len(text.encode())
        if total >= 1 << 20:
            break
    assert total >= 1 << 20
    assert findings < 5


def test_a_password_literal_is_masked_whatever_its_entropy() -> None:
    redactor = Redactor()
    cases = {'password = "rootpasswd"': "rootpasswd", 'db_pwd: "hunter22"': "hunter22"}
    cases["PASSWORD='letmein1'"] = "letmein1"
    for text, secret in cases.items():
        assert secret not in redactor.redact(text), text


def test_password_placeholders_and_references_stay() -> None:
    redactor = Redactor()
    for text in ('password = "changeme"', 'password = "${DB_PASSWORD}"', 'password = "xxxxxxxx"'):
        assert redactor.redact(text) == text


def test_memo_gives_the_same_answer_redacting_each_string_once() -> None:
    redactor = Redactor(["glpat-Zq8vT3kLmN5pR7sW2xYb"])
    calls: list[str] = []
    original = redactor.redact

    def counting(text: str) -> str:
        calls.append(text)
        return original(text)

    redactor.redact = counting  # type: ignore[method-assign]
    view = {
        "rows": [{"status": "ok", "detail": "glpat-Zq8vT3kLmN5pR7sW2xYb"}] * 50,
        "password": "hunter2-long",
    }
    plain = Redactor(["glpat-Zq8vT3kLmN5pR7sW2xYb"]).redact_value(view)
    assert redactor.redact_value(view, memo=True) == plain
    assert sorted(calls) == ["glpat-Zq8vT3kLmN5pR7sW2xYb", "ok"]
    assert plain["password"] == "[REDACTED:sensitive-key]"  # noqa: S105
