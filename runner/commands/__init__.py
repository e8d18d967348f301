"""One module per CLI verb; each `run(...)` returns an exit code."""
