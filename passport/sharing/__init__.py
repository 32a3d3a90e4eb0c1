"""Shares: links a holder gives to anyone, which expire, can be revoked and verified."""
