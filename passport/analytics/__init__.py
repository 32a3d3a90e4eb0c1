"""Success-rate analytics: certifications obtained against CPF training files, as
aggregates only (see docs/analytics.md)."""
