"""Consents given by holders to CEP advisors, their receipts, and the advisor API."""
