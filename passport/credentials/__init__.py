"""Portable credentials: Open Badges 3.0 as VC-JWT, with a Bitstring Status List."""
