"""Holders (the people a passport belongs to) and the identity directory used to find them."""
