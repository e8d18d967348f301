"""A tiny warehouse library: stock checks, CSV reports, bin-code parsing and routing."""
