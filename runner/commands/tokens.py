"""`optirunner tokens add|list|revoke`: the API's and the dashboard's tokens."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from rich import box
from rich.console import Console
from rich.table import Table

from runner.auth import parse_role
from runner.commands.jobs import store_call
from runner.config import load_settings
from runner.errors import OptirunnerError
from runner.store import db
from runner.store.queue import JobStore
from runner.store.tokens import TokenStore

T = TypeVar("T")


def _call(config: Path | None, call: Callable[[TokenStore], T]) -> T:
    def checked(store: JobStore) -> T:
        if db.current_revision(store.engine) != db.head_revision():
            raise OptirunnerError(
                "the job database is older than this optirunner; run `optirunner db upgrade`"
            )
        return call(TokenStore(store.engine))

    return store_call(load_settings(config), checked)


def add(*, name: str, role: str, config: Path | None) -> int:
    """Create a token; print its value once (it is stored only as a hash)."""
    wanted = parse_role(role)
    info, value = _call(config, lambda tokens: tokens.add(name, wanted))
    sys.stdout.write(value + "\n")
    sys.stderr.write(
        f"token {info.token_id} ({info.name}, {info.role.value}): shown once, stored only as "
        "a hash. Use it as 'Authorization: Bearer <token>' or sign in to the dashboard.\n"
    )
    return 0


def list_tokens(*, as_json: bool, config: Path | None) -> int:
    """Every token, live and revoked (never their values)."""
    tokens = _call(config, lambda store: store.list())
    if as_json:
        sys.stdout.write(json.dumps([t.to_dict() for t in tokens], indent=2) + "\n")
        return 0
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("id", "name", "role", "created", "last used", "revoked"):
        table.add_column(column, no_wrap=True)
    for token in tokens:
        table.add_row(
            token.token_id,
            token.name,
            token.role.value,
            _when(token.created_at),
            _when(token.last_used_at),
            _when(token.revoked_at),
        )
    Console(highlight=False).print(table)
    return 0


def revoke(*, ref: str, config: Path | None) -> int:
    """Revoke a token by id or name; its dashboard sessions end with it."""
    info = _call(config, lambda tokens: tokens.revoke(ref))
    sys.stdout.write(f"token {info.token_id} ({info.name}) revoked\n")
    return 0


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
