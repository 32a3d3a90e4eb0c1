"""Deposits: received certifier files, their processing state and reports."""
