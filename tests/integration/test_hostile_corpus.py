"""The hostile-input corpus, one file per process, as production reads it: each file is
refused with its stable code, the process exits (a return code, never a signal), within
2 s of wall time and 256 MB of peak memory.

A small launcher process starts the reader and reports its wall time and peak resident
memory (``wait4``): measured from the test process, the reader would inherit pytest's
own size at fork.  Files of 1 MB and more go through the child reader process as in
production; its peak counts too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile_corpus import write

pytestmark = pytest.mark.slow

MAX_SECONDS = 2.0
MAX_PEAK_MB = 256

#: Starts argv[1:], waits, prints {"status", "seconds", "peak_mb"} on stderr.
LAUNCHER = """
import json, os, sys, time
start = time.monotonic()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                  "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                  "seconds": time.monotonic() - start,
                  "peak_mb": usage.ru_maxrss / 1024}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, set[str], list[str]]]:
    return list(write(tmp_path_factory.mktemp("hostile")))


def run_isolated(path: Path, extra: list[str]) -> tuple[dict[str, object], dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "ingestion", *extra, str(path)],
        capture_output=True, timeout=60, check=False)
    measures = json.loads(done.stderr.decode().strip().splitlines()[-1])
    verdict = json.loads(done.stdout) if done.stdout.strip() else {}
    return measures, verdict


def test_every_file_is_refused_in_its_own_process_within_limits(
    corpus: list[tuple[Path, set[str], list[str]]],
) -> None:
    failures = []
    figures = []
    for path, expected, extra in corpus:
        measures, verdict = run_isolated(path, extra)
        codes = {e["code"] for e in verdict.get("errors", [])}  # type: ignore[attr-defined]
        figures.append((path.name, measures["seconds"], measures["peak_mb"]))
        if measures["signal"] is not None:
            failures.append(f"{path.name}: killed by signal {measures['signal']}")
        elif measures["code"] != 1 or verdict.get("schema_valid") is not False:
            failures.append(f"{path.name}: exit {measures['code']}, verdict {verdict}")
        elif not codes & expected:
            failures.append(f"{path.name}: codes {sorted(codes)}, expected one of {sorted(expected)}")
        if measures["seconds"] >= MAX_SECONDS:  # type: ignore[operator]
            failures.append(f"{path.name}: {measures['seconds']:.2f} s")
        if measures["peak_mb"] >= MAX_PEAK_MB:  # type: ignore[operator]
            failures.append(f"{path.name}: {measures['peak_mb']:.0f} MB")
    slowest = max(figures, key=lambda f: f[1])
    largest = max(figures, key=lambda f: f[2])
    print(f"\n{len(figures)} hostile files; slowest {slowest[0]} {slowest[1]:.2f} s; "
          f"largest {largest[0]} {largest[2]:.0f} MB")
    assert not failures, "\n".join(failures)
    assert len(figures) >= 45


def test_the_launcher_sees_a_signal_and_the_peak(tmp_path: Path) -> None:
    # The measures above can fail: a process killed by a signal and a big one are seen.
    script = tmp_path / "crash.py"
    script.write_text("import os, signal\nx = bytearray(300 * 1024 * 1024)\n"
                      "x[::4096] = b'1' * len(x[::4096])\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    done = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, str(script)],
                          capture_output=True, timeout=60, check=False)
    measures = json.loads(done.stderr.decode().strip().splitlines()[-1])
    assert measures["signal"] == 11
    assert measures["peak_mb"] > MAX_PEAK_MB
