"""The webhook secret `optirunner configure` stores, as the default of both forges' checks.

`configure` keeps one generated webhook secret as the credential `optirunner-webhook-secret`
(systemd-creds, loaded by the packaged unit) or in `$OPTIRUNNER_WEBHOOK_SECRET`. It serves as
GitLab's `X-Gitlab-Token` and as Jira's HMAC secret unless `service.gitlab.token` or
`service.jira.secret` is set explicitly. The caller passes the environment it read.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from runner.config import Settings
from runner.forge.secrets import find_token

WEBHOOK_CREDENTIAL = "optirunner-webhook-secret"


def apply_webhook_secret(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Fill the unset webhook checks from the stored secret; returns the settings filled."""
    hooks = settings.service
    if hooks.gitlab.token is not None and hooks.jira.secret is not None:
        return []
    secret = find_token(WEBHOOK_CREDENTIAL, environ)
    if secret is None:
        return []
    filled = []
    if hooks.gitlab.token is None:
        hooks.gitlab.token = SecretStr(secret)
        filled.append("service.gitlab.token")
    if hooks.jira.secret is None:
        hooks.jira.secret = SecretStr(secret)
        filled.append("service.jira.secret")
    return filled
