"""Verification: tests, behaviour comparison, measurement and verdicts."""
