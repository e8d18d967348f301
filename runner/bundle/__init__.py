"""The code segment a job works on: extraction, manifest, and applying candidates."""
