"""The certifier registry: certification bodies, their contracts and their mandates."""
