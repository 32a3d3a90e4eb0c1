"""The child process that reads a flux for `ingestion.pipeline` (classes stay importable
under their own module names, which pickling across the pipe needs)."""

from ingestion.pipeline import child_main

if __name__ == "__main__":
    child_main()
