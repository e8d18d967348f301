"""Rendering one job's result for people (markdown) and machines (JSON)."""
