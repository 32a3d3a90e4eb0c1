"""Certifier flux ingestion: byte gate, streaming parse and XSD validation, business rules,
NIRisation, loading into the holder-centric store and the processing report.

No HTTP code here: the CLI, the API and the workers call `ingestion.loader`.
"""
