"""Certifier flux ingestion: byte gate, streaming parse and XSD validation, business rules,
NIRisation, loading into the holder-centric store and the processing report.

No HTTP code here: the CLI, the API and the workers call `ingestion.loader`.
"""

#: Default size limit of a flux file (the CDC portal's), ``PASSPORT_MAX_UPLOAD_BYTES``.
DEFAULT_MAX_BYTES = 250 * 1024 * 1024
#: Files at least this big are read by a child process by default (a native crash of
#: libxml2 then costs that file, not the process), smaller ones too in a process that keeps
#: a reader (`ingestion.pipeline.read_checked`), ``PASSPORT_INGEST_SUBPROCESS_MIN_BYTES``.
DEFAULT_SUBPROCESS_MIN_BYTES = 1024 * 1024
