"""The sd_notify protocol: datagrams such as `READY=1` to the socket in $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger("optirunner.systemd")


class Notifier:
    """Sends state changes to systemd; a no-op when not run by systemd (no socket)."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None

    def notify(self, *lines: str) -> bool:
        """Send `lines` as one datagram; False when there is no socket or it is gone."""
        if self.address is None:
            return False
        # A leading "@" names a socket in the abstract namespace.
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), target)
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True
