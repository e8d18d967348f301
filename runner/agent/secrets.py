"""Where the API key comes from: systemd credentials, then the keyring, then one variable.

The key is never a setting (a config file is easy to leak in a bug report). Lookup order:

1. ``$CREDENTIALS_DIRECTORY/<ai.credential>`` (``LoadCredential=``/``SetCredentialEncrypted=``
   of the systemd unit);
2. the system keyring, service ``optirunner``, user ``<ai.credential>`` (only when the
   optional ``keyring`` package is installed);
3. ``OPTIRUNNER_AI_API_KEY``.

The environment is never read here: the CLI layer passes the variables it read, so a test
(or an embedding program) decides exactly what the lookup sees.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path

from runner.agent.settings import CREDENTIALS_DIRECTORY, ENV_KEY, AISettings
from runner.errors import ConfigError

KEYRING_SERVICE = "optirunner"
#: Local OpenAI-compatible servers (Ollama, llama.cpp) ignore the key but the SDK wants one.
NO_KEY_NEEDED = "not-needed"

KeyringGet = Callable[[str, str], str | None]


def api_key(
    provider: str,
    settings: AISettings,
    environ: Mapping[str, str] | None = None,
    keyring_get: KeyringGet | None = None,
) -> str:
    """The API key for `provider`, or ConfigError naming every place that was looked in.

    `environ` defaults to what the CLI bound with `settings.bind_environ`; `keyring_get`
    defaults to `keyring.get_password` when that package is installed.
    """
    env = settings.environ if environ is None else environ
    name = settings.credential
    looked: list[str] = []
    for source in (_credential_file, _keyring, _variable):
        found, where = source(name, env, keyring_get)
        looked.append(where)
        if found:
            return found
    if _is_local(settings.base_url):
        return NO_KEY_NEEDED
    raise ConfigError(f"no API key for provider {provider!r}; looked in " + "; ".join(looked))


def _credential_file(
    name: str, env: Mapping[str, str], _keyring_get: KeyringGet | None
) -> tuple[str | None, str]:
    directory = env.get(CREDENTIALS_DIRECTORY)
    if not directory:
        return None, f"systemd credential {name!r} ($CREDENTIALS_DIRECTORY is not set)"
    path = Path(directory) / name
    where = f"systemd credential {str(path)!r}"
    try:
        return path.read_text(encoding="utf-8").strip() or None, where
    except OSError:
        return None, where + " (not readable)"


def _keyring(
    name: str, _env: Mapping[str, str], keyring_get: KeyringGet | None
) -> tuple[str | None, str]:
    where = f"keyring service {KEYRING_SERVICE!r} user {name!r}"
    get = keyring_get or _default_keyring()
    if get is None:
        return None, where + " (keyring is not installed)"
    try:
        return get(KEYRING_SERVICE, name) or None, where
    except Exception as exc:  # any keyring backend failure means "not found here"
        return None, f"{where} ({type(exc).__name__})"


def _default_keyring() -> KeyringGet | None:
    try:
        module = importlib.import_module("keyring")
    except ImportError:
        return None
    get: KeyringGet = module.get_password
    return get


def _variable(
    _name: str, env: Mapping[str, str], _keyring_get: KeyringGet | None
) -> tuple[str | None, str]:
    return env.get(ENV_KEY) or None, f"${ENV_KEY}"


def _is_local(base_url: str | None) -> bool:
    """A server on this host (Ollama, llama.cpp) may run without a key."""
    if not base_url:
        return False
    host = base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1")
