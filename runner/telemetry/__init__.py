"""Traces of what a job did: spans, sinks (events.jsonl now; redaction and Icarus later)."""
