"""sd_notify over a real unix datagram socket."""

from __future__ import annotations

import socket
from pathlib import Path

from runner.service.systemd import Notifier


def test_notify_sends_one_datagram(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert Notifier(str(path)).notify("READY=1", "STATUS=ok")
        assert sock.recv(100) == b"READY=1\nSTATUS=ok"


def test_abstract_namespace_socket() -> None:
    name = f"optirunner-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert Notifier("@" + name).notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"


def test_without_socket_nothing_is_sent(tmp_path: Path) -> None:
    assert not Notifier(None).notify("READY=1")
    assert not Notifier(str(tmp_path / "gone")).notify("READY=1")
