"""Certification referentials (RNCP / RS sheets)."""
