"""The notes feature's framework-free core, shared by both reference apps.

A real migration keeps its domain layer and ports only the web layer: the
SQLite store and the settings live here, and ``legacy_flask`` and
``new_fastapi`` differ only in how they serve them.
"""
