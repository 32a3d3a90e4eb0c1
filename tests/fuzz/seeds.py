"""Seed inputs for the flux fuzzer: the official example, valid fluxes of every shape the
test builders make, and the small hostile corpus.

    .venv/bin/python -m tests.fuzz.seeds DIRECTORY
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import OFFICIAL_EXAMPLE
from tests.flux import NIL, document, passage
from tests.hostile_corpus import CASES


def write(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    seeds = {
        "official-example": OFFICIAL_EXAMPLE.read_bytes(),
        "one-passage": document(),
        "three-passages": document([passage("A"), passage("B"), passage("C", scoring=NIL)]),
        **{f"hostile-{i:02d}": data for i, (_name, data, _code) in enumerate(CASES)},
    }
    for name, data in seeds.items():
        (directory / name).write_bytes(data)
    return len(seeds)


if __name__ == "__main__":
    print(f"{write(Path(sys.argv[1]))} seeds in {sys.argv[1]}")
