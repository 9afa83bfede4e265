"""Waymark's common code: only what every service really shares.

Settings base, auth, error model, logging, HTTP client, database helpers and the
change feed (publisher and consumer). Nothing service-specific lives here, and
nothing here imports a service (import-linter checks this).
"""
