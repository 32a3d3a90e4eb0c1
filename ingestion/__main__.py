"""``python -m ingestion [options] FILE…``: the verdict on flux files as JSON lines, with
only the ingestion package loaded (no web app, no database, a fifth of the start-up time
of ``passport flux validate``, whose JSON it prints).

For tooling that starts one process per file: the hostile-input corpus runs each file in
its own process under time and memory limits.  Operators and certifiers use
``passport flux validate``, which takes its limits from the settings.

Exit status: 0 when every file is schema-valid, 1 when one is not, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from ingestion import DEFAULT_MAX_BYTES, DEFAULT_SUBPROCESS_MIN_BYTES
from ingestion.pipeline import Source
from ingestion.validate import validate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help="size limit (PASSPORT_MAX_UPLOAD_BYTES; default 250 MB)")
    parser.add_argument("--schema", choices=("1.1.2", "1.1.5"), default="1.1.5")
    parser.add_argument("--subprocess-min-bytes", type=int, default=DEFAULT_SUBPROCESS_MIN_BYTES,
                        help="files this big are read by a child process (-1: never)")
    args = parser.parse_args(argv)
    threshold = None if args.subprocess_min_bytes < 0 else args.subprocess_min_bytes
    all_valid = True
    for path in args.files:
        if not path.is_file():
            parser.error(f"{path}: no such file")
        with closing(validate(str(path), Source(path), max_bytes=args.max_bytes,
                              schema_version=args.schema, subprocess_min_bytes=threshold,
                              spooled=True)) as result:
            all_valid &= result.schema_valid
            sys.stdout.flush()
            result.write_json(sys.stdout.buffer)
    return 0 if all_valid else 1


if __name__ == "__main__":
    sys.exit(main())
