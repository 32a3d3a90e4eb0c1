"""Passport records: attested passages (from certifiers) and holder declarations."""
