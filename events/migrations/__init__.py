"""Versioned SQL migrations, applied in order by events.migrate."""
