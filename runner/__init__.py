"""optirunner: a self-hosted code optimization runner."""

__version__ = "0.1.0"
