"""`ingestion.validate`: what a dry run keeps of the passages it checks."""

from __future__ import annotations

import gc
import io
import json
import tracemalloc
from contextlib import closing
from typing import Any

import pytest

from ingestion.errors import FileProblem
from ingestion.pipeline import Source
from ingestion.validate import Spool, ValidationResult, validate
from tests.flux import document, passage


def _check(data: bytes, listed: int | None) -> tuple[int, int, list[str], int]:
    result = validate("v.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=10**7,
                      listed=listed)
    return (result.passages_total, result.passages_ko,
            [p["id_technique"] for p in result.passages], result.flagged_left_out)


def test_listed_keeps_the_first_flagged_passages_across_a_restart() -> None:
    # A late `action` (after 2,500 passages, read in batches of 2,000) makes the reader
    # start again after the schema-less prescan: nothing may be counted twice.
    ids = [f"P-{i}" for i in range(2500)]
    data = document([passage(i, dateFinExamen="2020-01-01") if i in ("P-0", "P-2400") else
                     passage(i) for i in ids]).replace(
        b"</cpf:flux>", b"<cpf:action>CREATION</cpf:action></cpf:flux>")
    assert _check(data, None) == (2500, 2, ids, 0)
    assert _check(data, 1) == (2500, 2, ["P-0"], 1)
    assert _check(data, 10) == (2500, 2, ["P-0", "P-2400"], 0)


def test_a_refused_file_keeps_no_count() -> None:
    data = document([passage("A"), passage("B")])
    assert _check(data[:-60], 10) == (0, 0, [], 0)


def test_a_late_schema_error_is_positioned_by_a_diagnosis_told_what_was_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ingestion import validate as module

    told = []
    real = module.locate_problems

    def locate(*args: Any, **kwargs: Any) -> list[FileProblem]:
        told.append(kwargs["valid_passages"])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "locate_problems", locate)
    data = document([passage(f"P-{i}") for i in range(4500)] + [passage("BAD", sexe="X")])
    result = validate("v.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=10**8)
    assert told == [4000]  # batches of 2,000
    [error] = result.errors
    assert error.code == "schema" and "cpf:sexe" in error.message and error.line == 2


def _late_action_document(n: int) -> bytes:
    """``n`` passages, two of them breaking rule 4, and an ``action`` after them all (which
    makes the reader start again after a prescan once ``n`` passes a batch)."""
    ids = [f"P-{i}" for i in range(n)]
    return document([passage(i, dateFinExamen="2020-01-01") if i in ("P-0", f"P-{n - 1}") else
                     passage(i) for i in ids]).replace(
        b"</cpf:flux>", b"<cpf:action>CREATION</cpf:action></cpf:flux>")


@pytest.mark.parametrize("data", [_late_action_document(2500), document()[:-60]],
                         ids=["restarted", "refused"])
def test_spooled_verdicts_are_those_kept_in_memory(data: bytes) -> None:
    def run(spooled: bool) -> ValidationResult:
        return validate("v.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=10**7,
                        spooled=spooled)

    kept, spooled = run(False), run(True)
    with closing(spooled):
        assert isinstance(spooled.passages, Spool)
        assert list(spooled.passages) == kept.passages
        assert len(spooled.passages) == spooled.passages_total == kept.passages_total
        out = io.BytesIO()
        spooled.write_json(out)
        assert out.getvalue().endswith(b"}\n") and out.getvalue().count(b"\n") == 1
        assert json.loads(out.getvalue()) == json.loads(json.dumps(kept.as_dict()))
        assert json.loads(out.getvalue()) == spooled.as_dict()


def test_spooled_verdicts_leave_memory_flat() -> None:
    data = _late_action_document(4500)

    def held(spooled: bool) -> int:
        tracemalloc.start()
        try:
            result = validate("v.xml", Source(opener=lambda: io.BytesIO(data)),
                              max_bytes=10**8, spooled=spooled)
            gc.collect()
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert result.passages_total == 4500
        result.close()
        return size

    # Kept in memory, 4,500 verdicts are ~1.9 MB; spooled, the result holds a file object.
    assert held(False) > 1_000_000
    assert held(True) < 50_000
