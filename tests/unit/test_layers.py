"""The layers of docs/architecture.md, checked in a fresh interpreter: what loads files
(the ingestion package, the deposit jobs and workers, the clean-up) runs without Flask —
no HTTP code in a loader, and no web framework's 6 MB in each loader process."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADERS = ["ingestion.loader", "ingestion.pipeline", "passport.deposits.service",
           "passport.jobs", "passport.worker", "passport.cleanup"]


@pytest.mark.parametrize("module", LOADERS)
def test_loading_files_imports_no_web_framework(module: str) -> None:
    probe = (f"import sys, {module}; "
             "print(sorted(m for m in ('flask', 'werkzeug', 'flask_smorest') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
