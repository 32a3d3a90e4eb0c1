"""Skills passport backend: holder-centric store of certifier data, consent-aware API.

This package must stay importable without Flask for the ingestion code path
(`ingestion` imports the models and NIR helpers only); Flask lives in `passport.app`.
"""
