"""Forge tokens: `$CREDENTIALS_DIRECTORY/<credential>` (systemd) first, then one variable.

The variable is `OPTIRUNNER_<CREDENTIAL>` with `-` as `_` and without a leading
`optirunner-` (`optirunner-gitlab-token`, the packaged unit's credential, and `gitlab-token`
both read `OPTIRUNNER_GITLAB_TOKEN`). The caller passes the environment it read; nothing here
reads `os.environ`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runner.errors import ConfigError


def variable_name(credential: str) -> str:
    """The environment variable that may hold `credential`."""
    name = credential.removeprefix("optirunner-")
    return "OPTIRUNNER_" + name.upper().replace("-", "_").replace(".", "_")


def find_token(credential: str, environ: Mapping[str, str]) -> str | None:
    """The token named `credential`, or None when it is nowhere."""
    try:
        return forge_token(credential, environ)
    except ConfigError:
        return None


def forge_token(credential: str, environ: Mapping[str, str]) -> str:
    """The token named `credential`, or ConfigError naming where it was looked for."""
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / credential
        if path.is_file():
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
    variable = variable_name(credential)
    value = environ.get(variable, "").strip()
    if value:
        return value
    where = f"$CREDENTIALS_DIRECTORY/{credential}, " if directory else ""
    raise ConfigError(f"no forge token: looked in {where}${variable}")
