"""The long-lived service: listener lifecycle, worker supervisor, metrics, systemd protocol."""
