"""Scans of large transaction tables, as Ibis expressions the database runs."""
