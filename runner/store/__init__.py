"""The durable job queue: states, leases, retries (SQLite by default, PostgreSQL when shared)."""
