"""The redaction rules: credential formats, `key = value` assignments and opt-in PII.

Data only, plus the small pure predicates the rules use. Every rule has keywords
(lower-case literals): the rule's regex runs only when one of them occurs in the
lower-cased text, which keeps the redactor fast on text that holds no credential.
The formats follow the vendors' documentation and the public gitleaks rule set
(MIT licence); they were checked against the labelled corpus described in
docs/telemetry.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[str], bool]


@dataclass(frozen=True)
class Rule:
    """One detector: `group` of `pattern` is masked when `check(value)` holds."""

    name: str
    pattern: re.Pattern[str]
    keywords: tuple[str, ...]
    group: int = 0
    check: Check | None = None
    requires: re.Pattern[str] | None = None
    document: re.Pattern[str] | None = None  # `requires` holds per document, split here


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` (0 for the empty string)."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


_PLACEHOLDER_PARTS = (
    "xxxx",
    "****",
    "....",
    "..",
    "####",
    "<",
    ">",
    "[",
    "]",
    "${",
    "{{",
    "%(",
    "$(",
    "example",
    "change",
    "here",
    "your",
)
_CODE_LIKE = re.compile(r"^[A-Za-z_]+\d*(?:\.[A-Za-z_]+\d*)+(?:\(\))?$|^[A-Za-z_]\w*\(")
_FILLER = re.compile(r"(.)\1{5,}|(..)\2{4,}")
_PLACEHOLDER_WORDS = frozenset(
    {"password", "passwd", "pass", "secret", "token", "pwd", "yyy", "changeme", "username"}
)


def looks_placeholder(value: str) -> bool:
    """A template, an example, a variable reference or code rather than a credential."""
    low = value.lower()
    if value.startswith(("$", "%", "@", "&", "#", "!", "/", "\\")):
        return True
    if low.strip("'\"") in _PLACEHOLDER_WORDS:
        return True
    if any(part in low for part in _PLACEHOLDER_PARTS):
        return True
    return bool(_CODE_LIKE.match(value))


def has_filler(value: str) -> bool:
    """Runs such as `xxxxxx`, `000000` or `121212121212`: a made-up value."""
    return _FILLER.search(value) is not None


SEQUENCE_RUN = 16


def has_sequence(value: str, run: int = SEQUENCE_RUN) -> bool:
    """The alphabet typed out: an ascending run of `run` letters or digits (any case).

    `sk_abcdefghijklmnopqrstuvwxyz123` is a made-up value. The bar is deliberately high:
    short runs (`12345678-ABCD-…`, `…-klmnopqrstuvwx-…`) also occur in strings that have a
    vendor's exact format and are treated as real (gitleaks' own test keys are such), and
    a key that fits a format is masked even when it looks typed.
    """
    length = 1
    previous = -2
    for char in value.lower():
        code = ord(char)
        length = length + 1 if code == previous + 1 and char.isalnum() else 1
        if length >= run:
            return True
        previous = code
    return False


def format_ok(value: str) -> bool:
    """The default check of a credential-format rule: not a placeholder, filler or sequence."""
    return (
        shannon_entropy(value) >= 2.5
        and not has_filler(value)
        and not has_sequence(value)
        and not looks_placeholder(value)
    )


def min_entropy(bits: float) -> Check:
    """A check: `format_ok` and at least `bits` of Shannon entropy per character."""

    def check(value: str) -> bool:
        return shannon_entropy(value) >= bits and format_ok(value)

    return check


def any_value(value: str) -> bool:
    """A check that accepts every match (the format alone is proof enough)."""
    return bool(value)


def slack_ok(value: str) -> bool:
    """A Slack token: its numeric ids may repeat digits, its last part must look random.

    `xoxa-2-511111111-…-e039d02840a0b9379c` is real-format; a token whose random part was
    cut off or masked (`xoxp-…-572331691188-####`, `xoxp-XXXX-…`) is not.
    """
    last = value.rsplit("-", 1)[-1]
    return (
        len(last) >= 8
        and not looks_placeholder(value)
        and not has_filler(last)
        and not has_sequence(last)
        and shannon_entropy(last) >= 2.5
    )


def twitter_bearer_ok(value: str) -> bool:
    """An app-only Twitter/X bearer token: 20+ `A`s (zero bytes), then a random tail."""
    tail = value.lstrip("A")
    return len(tail) >= 40 and shannon_entropy(tail) >= 4.0 and format_ok(tail)


def _char_classes(value: str) -> int:
    return sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )


def secret_like(value: str) -> bool:
    """A `key = value` value that reads like a credential, not a word, path or code."""
    value = value.strip("'\"`")
    if len(value) < 10 or looks_placeholder(value) or has_filler(value) or has_sequence(value):
        return False
    if value.isdigit():  # long random numbers (client secrets, ids); not counts, ports or dates
        # 2.4 bits/char is about the 1st percentile of 16 to 18 random digits
        return len(value) >= 16 and shannon_entropy(value) >= 2.4
    if value.replace(".", "").replace("-", "").replace("_", "").isdigit():
        return False  # versions, dates
    classes = _char_classes(value)
    has_digit = any(c.isdigit() for c in value)
    if not ((has_digit and classes >= 2) or (len(value) >= 16 and classes >= 3)):
        return False
    return shannon_entropy(value) >= 3.0


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2 == 1:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


def card_ok(value: str) -> bool:
    """13 to 19 digits (spaces and dashes allowed) that pass the Luhn check."""
    digits = re.sub(r"[ -]", "", value)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits)


def iban_ok(value: str) -> bool:
    """An IBAN whose ISO 13616 mod-97 check holds."""
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    numeric = "".join(str(int(c, 36)) for c in moved)
    return int(numeric) % 97 == 1


def _r(
    name: str,
    pattern: str,
    *keywords: str,
    group: int = 0,
    check: Check = format_ok,
    requires: str | None = None,
    document: str | None = None,
) -> Rule:
    needed = re.compile(requires, re.MULTILINE) if requires else None
    split = re.compile(document, re.MULTILINE) if document else None
    return Rule(name, re.compile(pattern), keywords, group, check, needed, split)


_E3 = min_entropy(3.0)
_E35 = min_entropy(3.5)
_B = r"(?<![A-Za-z0-9_.-])"  # start of a token
_E = r"(?![A-Za-z0-9_])"  # end of a token

# Names that say "this is a secret" in `name = value`, JSON, YAML, XML and CLI flags. The
# access id / client id of a key pair count too (`SUMO_ACCESS_ID`, `MessageBirdClientID`):
# half a credential, and often all an attacker lacks.
SECRET_NAME = "".join(  # a regex of names, not a password
    (
        r"(?:secret|token|passw(?:or)?d|passwd|pwd|pass|api[_.-]?key|apikey|access[_.-]?key",
        r"|accesskey|auth[_.-]?key|private[_.-]?key|credential|signing[_.-]?key|login|_key|key",
        r"|access[_.-]?id|client[_.-]?id)",
    )
)
_ID_KEYWORDS = tuple(f"{a}{sep}id" for a in ("access", "client") for sep in ("", "_", ".", "-"))
# Services whose credentials are long random strings that config files often label with the
# service's name alone (`cloudflare: "…"`, `f("artifactory", "…")`), as gitleaks' vendor
# rules do. A value under such a name must still look like a key: 32+ characters, letters
# and digits, 3+ bits/char; names of public ids (`cloudflare_zone_id`) are skipped.
SERVICE_NAMES = (
    "airtable",
    "algolia",
    "artifactory",
    "asana",
    "bintray",
    "bugsnag",
    "cloudflare",
    "codecov",
    "contentful",
    "datadog",
    "dropbox",
    "jfrog",
    "launchdarkly",
    "mailgun",
    "mapbox",
    "newrelic",
    "pagerduty",
    "rollbar",
    "sendgrid",
    "shopify",
    "snyk",
    "sumologic",
    "twilio",
    "zendesk",
)
_VALUE = r"[^\s\"'`;,<>(){}\[\]|]{8,300}"

FORMAT_RULES: tuple[Rule, ...] = (
    # Cloud providers
    _r(
        "aws-access-key",
        _B + r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}" + _E,
        "akia",
        "asia",
        "abia",
        "acca",
        "a3t",
        check=_E3,
    ),
    # ABSK + base64("BedrockAPIKey-"...): the prefix alone proves the format, so even
    # AWS's documented EXAMPLE key is masked (a copied sample costs nothing when masked).
    _r("aws-bedrock-key", _B + r"ABSK[A-Za-z0-9+/]{109,269}={0,2}", "absk", check=any_value),
    _r(
        "aws-bedrock-key",
        r"bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=]*",
        "bedrock-api-key-",
    ),
    _r("gcp-api-key", _B + r"AIza[\w-]{35}" + _E, "aiza", check=_E3),
    _r(
        "azure-client-secret",
        r"(?:^|[\\'\"`\s>=:(,)])([a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34})(?:$|[\\'\"`\s<),])",
        "q~",
        group=1,
    ),
    _r("azure-storage-key", r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)", "accountkey", group=1),
    _r("azure-sas-signature", r"[?&]sig=([A-Za-z0-9%+/=]{30,})", "sig=", group=1),
    _r("alibaba-key", _B + r"LTAI[a-zA-Z0-9]{20}" + _E, "ltai"),
    _r("cloudflare-origin-ca", _B + r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}" + _E, "v1.0-"),
    _r("digitalocean-token", _B + r"do[por]_v1_[a-f0-9]{64}" + _E, "dop_v1_", "doo_v1_", "dor_v1_"),
    _r("heroku-key", _B + r"HRKU-AA[0-9a-zA-Z_-]{58}" + _E, "hrku-"),
    _r("flyio-token", _B + r"f[mo][12]?[ar]?_[a-zA-Z0-9+/]{40,}={0,3}", "fm1", "fm2", "fo1"),
    # Version control and CI
    # optirunner's own API tokens (runner/auth.py): opr_<12 hex>_<43 URL-safe base64>.
    _r("optirunner-api-token", _B + r"opr_[0-9a-f]{12}_[A-Za-z0-9_-]{43}" + _E, "opr_"),
    _r(
        "github-token",
        _B + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}" + _E,
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        check=_E3,
    ),
    _r("github-fine-grained-token", _B + r"github_pat_\w{82}" + _E, "github_pat_"),
    _r(
        "gitlab-token",
        _B + r"(?:glpat|gldt|glrt|glptt|glft|glimt|glagent|gloas|glsoat|glcbt|glffct)-[\w-]{20,}",
        "glpat-",
        "gldt-",
        "glrt-",
        "glptt-",
        "glft-",
        "glimt-",
        "glagent-",
        "gloas-",
        "glsoat-",
        "glcbt-",
        "glffct-",
        check=_E3,
    ),
    _r("gitlab-runner-registration", _B + r"GR1348941[\w-]{20}" + _E, "gr1348941"),
    _r("bitbucket-app-password", _B + r"ATBB[A-Za-z0-9_=.-]{32,}" + _E, "atbb", check=_E3),
    _r("atlassian-token", _B + r"ATATT3[A-Za-z0-9_=-]{186}" + _E, "atatt3"),
    _r("circleci-token", _B + r"CCIPAT_\w{22}_[a-f0-9]{40}" + _E, "ccipat_"),
    _r("buildkite-token", _B + r"bkua_[a-f0-9]{40}" + _E, "bkua_"),
    _r("npm-token", _B + r"npm_[A-Za-z0-9]{36}" + _E, "npm_", check=_E3),
    _r("pypi-token", _B + r"pypi-AgEIcHlwaS5vcmc[\w-]{50,}", "pypi-ageichlwas5vcmc"),
    _r("doppler-token", _B + r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}" + _E, "dp."),
    _r("databricks-token", _B + r"dapi[a-f0-9]{32}(?:-\d)?" + _E, "dapi"),
    _r("terraform-token", r"(?i)" + _B + r"[a-z0-9]{14}\.atlasv1\.[a-z0-9_=-]{60,70}", "atlasv1"),
    _r("vault-token", _B + r"hv[sb]\.[\w-]{24,}", "hvs.", "hvb."),
    _r("vault-token", _B + r"s\.(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{24}" + _E, "s."),
    _r("sonar-token", _B + r"sq[pau]_[a-fA-F0-9A-Z]{40}" + _E, "sqp_", "sqa_", "squ_"),
    _r("sourcegraph-token", _B + r"sgp_(?:local_|[a-fA-F0-9]{16}_)?[a-fA-F0-9]{40}" + _E, "sgp_"),
    _r("octopus-key", _B + r"API-[A-Z0-9]{26}" + _E, "api-", check=_E3),
    _r("artifactory-key", _B + r"AKCp[A-Za-z0-9]{69}" + _E, "akcp"),
    _r("artifactory-reference", _B + r"cmVmd[A-Za-z0-9]{59}" + _E, "cmvmd"),
    _r("grafana-token", _B + r"(?:glc|glsa)_[A-Za-z0-9+/=_-]{32,}", "glc_", "glsa_", check=_E3),
    _r("infracost-token", _B + r"ico-[a-zA-Z0-9]{32}" + _E, "ico-"),
    _r("intra42-secret", _B + r"s-s4t2(?:ud|af)-[a-f0-9]{64}" + _E, "s-s4t2"),
    _r("scalingo-token", _B + r"tk-us-[\w-]{48}", "tk-us-"),
    _r("openshift-token", _B + r"sha256~[\w-]{43}", "sha256~"),
    _r(
        "onepassword-secret-key",
        _B + r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}"
        r"-[A-Z0-9]{5}" + _E,
        "a3-",
    ),
    _r(
        "prefixed-base64-token",
        _B + r"(?:ops|sntrys)_eyJ[A-Za-z0-9+/=_-]{20,}",
        "ops_eyj",
        "sntrys_eyj",
    ),
    # AI providers
    _r("anthropic-key", _B + r"sk-ant-(?:api|admin)\d\d-[\w-]{93}AA" + _E, "sk-ant-"),
    _r(
        "openai-key",
        _B + r"sk-(?:proj|svcacct|admin)-[\w-]{20,}",
        "sk-proj-",
        "sk-svcacct-",
        "sk-admin-",
    ),
    _r("openai-key", _B + r"sk-[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}", "t3blbkfj"),
    _r(
        "huggingface-token",
        _B + r"(?:hf_|api_org_)[A-Za-z]{34}" + _E,
        "hf_",
        "api_org_",
        check=_E35,
    ),
    _r(
        "cohere-key",
        r"(?i)(?:cohere|co_api_key)[\w.-]*['\"]?\s*[:=]\s*['\"]?([A-Za-z0-9]{40})" + _E,
        "cohere",
        "co_api_key",
        group=1,
        check=_E3,
    ),
    # Chat, payment, mail
    _r("slack-token", _B + r"xox[bp]-\d{8,13}-[0-9A-Za-z-]{8,}", "xoxb-", "xoxp-", check=slack_ok),
    _r("slack-token", _B + r"xox[as]-\d+-[0-9A-Za-z-]{8,}", "xoxa-", "xoxs-", check=slack_ok),
    _r("slack-token", _B + r"xoxe-\d+-[0-9A-Za-z-]{20,}", "xoxe-", check=slack_ok),
    _r("slack-token", _B + r"xoxr-[0-9A-Za-z]{10,}", "xoxr-"),
    _r("slack-config-token", _B + r"xoxe\.xox[bp]-\d-[A-Za-z0-9]{40,}", "xoxe."),
    _r("slack-app-token", r"(?i)" + _B + r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+", "xapp-"),
    _r(
        "slack-webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
        "hooks.slack.com",
    ),
    _r(
        "teams-webhook",
        r"[\w.-]+\.webhook\.office\.com/webhookb2/[\w-]+(?:@[\w-]+)?/IncomingWebhook/[\w-]+/[\w-]+",
        "webhook.office.com",
    ),
    _r(
        "teams-webhook",
        r"[\w.-]+\.webhook\.office\.com/webhookb2/[\w@/-]{20,}",
        "webhook.office.com",
    ),
    _r("discord-bot-token", _B + r"[MN][A-Za-z\d]{23,25}\.[\w-]{6}\.[\w-]{27,38}" + _E, "."),
    _r("discord-webhook", r"discord(?:app)?\.com/api/webhooks/\d+/[\w-]{20,}", "discord"),
    _r(
        "twitter-bearer-token",
        _B + r"A{20,}[A-Za-z0-9%]{40,140}(?![A-Za-z0-9%+/=])",
        "a" * 20,
        check=twitter_bearer_ok,
    ),
    _r("telegram-bot-token", _B + r"\d{8,10}:AA[\w-]{33}" + _E, ":aa"),
    _r(
        "stripe-key",
        _B + r"(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99}" + _E,
        "sk_test_",
        "sk_live_",
        "sk_prod_",
        "rk_test_",
        "rk_live_",
        "rk_prod_",
        check=_E3,
    ),
    _r("webhook-signing-secret", _B + r"whsec_[A-Za-z0-9+/=]{24,}", "whsec_"),
    _r(
        "square-token",
        _B + r"(?:EAAA|sq0atp-|sq0csp-)[\w-]{22,60}" + _E,
        "eaaa",
        "sq0atp-",
        "sq0csp-",
        check=_E3,
    ),
    _r("twilio-key", _B + r"SK[0-9a-fA-F]{32}" + _E, "sk", check=_E3),
    _r("sendgrid-key", _B + r"SG\.[\w-]{22}\.[\w-]{43}" + _E, "sg."),
    _r("mailgun-key", _B + r"key-[a-f0-9]{32}" + _E, "key-"),
    _r("mailchimp-key", _B + r"[a-f0-9]{32}-us\d{1,2}" + _E, "-us"),
    _r("easypost-key", _B + r"EZ[AT]K[a-zA-Z0-9]{54}" + _E, "ezak", "eztk"),
    _r("facebook-token", _B + r"EAA[MC][a-zA-Z0-9]{100,}", "eaam", "eaac"),
    _r("facebook-token", _B + r"\d{15,16}(?:\||%7[Cc])[\w-]{27}" + _E, "|", "%7c"),
    _r("notion-token", _B + r"ntn_\d{11}[A-Za-z0-9]{35}" + _E, "ntn_"),
    _r(
        "okta-token",
        r"(?i)(?<![a-z])okta[\w.-]*['\"]?\s*[:=]\s*['\"]?(00[\w=-]{40})",
        "okta",
        group=1,
    ),
    _r("adobe-secret", _B + r"p8e-[a-zA-Z0-9]{32}" + _E, "p8e-"),
    _r(
        "freemius-secret",
        r"(?i)[\"']secret_key[\"']\s*=>\s*[\"'](sk_[^\"']{29})[\"']",
        "secret_key",
        group=1,
    ),
    _r(
        "age-secret-key",
        _B + r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}" + _E,
        "age-secret-key-1",
        check=any_value,
    ),
    # Generic shapes
    _r("jwt", _B + r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*)?", "eyj"),
    _r("jwt", _B + r"eyJhbGciOi[A-Za-z0-9_-]{20,}", "eyjhbgcio"),
    _r(
        "private-key",
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\Z)",
        "private key",
        check=lambda v: re.search(r"[A-Za-z0-9+/=]{40,}", v) is not None,
    ),
    _r(
        "url-credentials",
        r"(?i)\b[a-z][a-z0-9+.-]{1,20}://([^\s:/?#@'\"<>]{1,100}:[^\s/?#@'\"<>]{3,200})@[\w.-]+",
        "://",
        group=1,
        check=lambda v: not looks_placeholder(v.split(":", 1)[1]),
    ),
    _r(
        "authorization-header",
        r"(?i)\b(?:authorization|proxy-authorization)\s*[:=]\s*['\"]?"
        r"(?:basic|bearer|token|api-token|apikey|digest)\s+([\w.~+/=-]{8,})",
        "authorization",
        group=1,
        check=lambda v: not looks_placeholder(v),
    ),
    _r(
        "api-key-header",
        r"(?i)\b(?:x-api-key|api-token|private-token|x-auth-token|x-access-token|apikey)"
        r"['\"]?\s*:\s*['\"]?([\w.~+/=-]{8,})",
        "api-key",
        "api-token",
        "private-token",
        "auth-token",
        "access-token",
        "apikey",
        group=1,
        check=secret_like,
    ),
    _r(
        "curl-user",
        r"(?:--user|\s-u)\s+['\"]?([^\s'\"]*:['\"]?[^\s'\"]{3,})",
        "--user",
        "-u",
        group=1,
        check=lambda v: not looks_placeholder(v.split(":", 1)[1]) and shannon_entropy(v) >= 2.5,
    ),
    _r(
        "sidekiq-secret",
        r"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM['\"]?\s*[:=]\s*['\"]?"
        r"([a-f0-9]{8}:[a-f0-9]{8})",
        "contribsys",
        group=1,
    ),
)

ASSIGNMENT_RULES: tuple[Rule, ...] = (
    # name = value, name: value, "name": "value", name := value, name => value, f("NAME", "v")
    _r(
        "secret-assignment",
        r"(?i)" + SECRET_NAME + r"[\w.-]*['\"`]?(?:[ \t]+string)?[ \t]*"
        r"(?:[:?+.!]?=|::=|:::=|=>|:|,(?=[ \t]*['\"`]))[ \t]*(?:>\s*)?['\"`]?(" + _VALUE + ")",
        "secret",
        "token",
        "pass",
        "pwd",
        "key",
        "credential",
        "login",
        *_ID_KEYWORDS,
        group=1,
        check=secret_like,
    ),
    # password = "literal": a quoted literal assigned to a password name is a password,
    # whatever its entropy (a dictionary word is a weak password, not a harmless one).
    _r(
        "password-literal",
        r"(?i)(?<![a-z])(?:passw(?:or)?d|passwd|pwd)['\"`]?[ \t]*(?:[:]?=|=>|:)[ \t]*"
        r"(['\"])([^'\"\s\\]{6,64})\1",
        "pass",
        "pwd",
        group=2,
        check=lambda v: not looks_placeholder(v) and not has_filler(v) and not has_sequence(v),
    ),
    # cloudflare: "…", "artifactory", "…"
    _r(
        "service-credential",
        r"(?i)(?<![a-z])(?:" + "|".join(SERVICE_NAMES) + r")"
        r"(?![\w.-]*(?:zone|account|org|project|user|site|team|app)[_.-]?id(?![a-z]))"
        r"[\w.-]*['\"`]?[ \t]*"
        r"(?:[:?]?=|=>|:|,)[ \t]*['\"`]?([A-Za-z0-9_-]{32,128})(?![\w.+/=-])",
        *SERVICE_NAMES,
        group=1,
        check=lambda v: secret_like(v) and any(c.isalpha() for c in v),
    ),
    # --token VALUE, -vaultToken VALUE
    _r(
        "secret-flag",
        r"(?i)(?:^|\s)--?[\w-]*" + SECRET_NAME + r"[\w-]*[ =]['\"]?(" + _VALUE + ")",
        "secret",
        "token",
        "pass",
        "key",
        group=1,
        check=secret_like,
    ),
    # <apiToken>value</apiToken>
    _r(
        "secret-xml-element",
        r"(?i)<([\w.-]*" + SECRET_NAME + r"[\w.-]*)>\s*([^<\s]{8,300})\s*</\1>",
        "secret",
        "token",
        "pass",
        "key",
        group=2,
        check=secret_like,
    ),
    # <add key="ClearTextPassword" value="..." />
    _r(
        "secret-key-value-attribute",
        r"(?i)key\s*=\s*\"[^\"]*" + SECRET_NAME + r"[^\"]*\"\s+value\s*=\s*\"([^\"]{6,})\"",
        "key",
        group=1,
        check=lambda v: not looks_placeholder(v) and shannon_entropy(v) >= 2.8,
    ),
    # Kubernetes Secret manifests: base64 values under data:
    _r(
        "kubernetes-secret-data",
        r"(?m)^[ \t]+[\w.-]+:[ \t]*(?:>[ \t]*\n[ \t]*)?"
        r"['\"]?([A-Za-z0-9+/]{8,}={0,2})['\"]?[ \t]*$",
        "kind",
        group=1,
        check=lambda v: any(c.isdigit() or c in "+/=" for c in v),
        requires=r"kind:\s*['\"]?Secret['\"]?\s*$",
        document=r"^---[ \t]*$",  # only the YAML document that is the Secret
    ),
)

PII_RULES: tuple[Rule, ...] = (
    _r(
        "email",
        r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
        r"\.[A-Za-z]{2,24}" + _E,
        "@",
        check=any_value,
    ),
    _r("card-number", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", "", check=card_ok),
    _r("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", "", check=iban_ok),
)
