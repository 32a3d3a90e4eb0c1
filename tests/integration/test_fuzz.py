"""A short run of the flux fuzzer (the long one is `make fuzz`), and the replay of every
input it ever found (tests/data/fuzz-regressions/)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import seeds
from tests.fuzz.invariants import check

REGRESSIONS = Path(__file__).parent.parent / "data" / "fuzz-regressions"
ROOT = Path(__file__).parent.parent.parent
SECONDS = 20


@pytest.mark.slow
def test_a_short_fuzzing_run_finds_nothing(tmp_path: Path) -> None:
    seed_dir, corpus = tmp_path / "seeds", tmp_path / "corpus"
    corpus.mkdir()
    seeds.write(seed_dir)
    for finding in REGRESSIONS.glob("*.xml"):  # as `make fuzz` does: mutants of past findings
        (seed_dir / finding.name).write_bytes(finding.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.flux_fuzzer", f"-max_total_time={SECONDS}",
         "-max_len=65536", "-timeout=10", "-rss_limit_mb=1024",
         f"-dict={ROOT / 'tests/fuzz/flux.dict'}", f"-artifact_prefix={tmp_path}/",
         str(corpus), str(seed_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 120, check=False)
    findings = sorted(p.name for p in tmp_path.glob("crash-*")) + sorted(
        p.name for p in tmp_path.glob("timeout-*"))
    assert done.returncode == 0 and not findings, (findings, done.stderr[-3000:])
    runs = int(re.search(r"Done (\d+) runs", done.stderr).group(1))  # type: ignore[union-attr]
    assert runs > 1000, done.stderr[-2000:]
    assert len(list(corpus.iterdir())) > 0  # coverage feedback kept new inputs


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_make_fuzz_runs(tmp_path: Path, jobs: int) -> None:
    """`make fuzz` (scripts/fuzz.sh), in one process and in libFuzzer's parallel mode, which
    starts each job by running the fuzzer's file again (it failed: not executable)."""
    env = {**os.environ, "FUZZ_DIR": str(tmp_path), "FUZZ_JOBS": str(jobs)}
    done = subprocess.run([str(ROOT / "scripts" / "fuzz.sh"), "3"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    outputs = ([done.stderr] if jobs == 1 else
               [(tmp_path / f"fuzz-{n}.log").read_text() for n in range(jobs)])
    for output in outputs:
        runs = int(re.search(r"Done (\d+) runs", output).group(1))  # type: ignore[union-attr]
        assert runs > 100, output[-2000:]
    assert len(list((tmp_path / "corpus").iterdir())) > 0
    assert not list(ROOT.glob("fuzz-*.log"))


def test_the_oracle_catches_an_unstable_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingestion.errors

    monkeypatch.setattr("tests.fuzz.invariants.READER_CODES",
                        ingestion.errors.READER_CODES - {"empty"})
    with pytest.raises(AssertionError, match="unstable codes"):
        check(b"")


#: The code each past finding is refused with (the README says why), ``resource_limit``
#: unless named here.
REFUSED_WITH = {"cut-inside-a-passage.xml": "truncated"}


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.xml")), ids=lambda p: p.name)
def test_every_past_finding_stays_fixed(path: Path) -> None:
    result = check(path.read_bytes())
    assert [p.code for p in result.errors][-1:] == [REFUSED_WITH.get(path.name, "resource_limit")]
