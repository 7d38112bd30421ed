#!/usr/bin/env python3
"""Checks that the layout holds (see docs/architecture.md):

- no source file is over 900 lines, not counting its unit-test module;
- SQL is written only in `orchestrator/src/store/` and `orchestrator/src/db.rs` (and the
  queues' own tables in `workers/src/queues.rs`).

Prints each breach with its place and exits 1 if there is any.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = ["flows/src", "orchestrator/src", "workers/src", "migrations/src", "tests/src"]
MAX_LINES = 900
SQL = re.compile(r'"\s*(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|DROP\s+TABLE|PRAGMA\s|WITH\s+\w+\s+AS)', re.I)
# The queue crate sweeps its own (apalis) tables.
SQL_HOMES = ["orchestrator/src/store/", "orchestrator/src/db.rs", "migrations/src/", "workers/src/queues.rs"]


def without_tests(lines):
    """The lines before the file's `#[cfg(test)] mod …` (unit tests), if it has one."""
    for i, line in enumerate(lines[:-1]):
        if line.strip() == "#[cfg(test)]" and not line.startswith(" ") and lines[i + 1].startswith("mod "):
            return lines[:i]
    return lines


def main():
    breaches = []
    for crate in CRATES:
        for path in sorted((ROOT / crate).rglob("*.rs")):
            rel = path.relative_to(ROOT).as_posix()
            lines = without_tests(path.read_text().splitlines())
            if len(lines) > MAX_LINES:
                breaches.append(f"{rel}: {len(lines)} lines (at most {MAX_LINES} outside its tests)")
            if any(rel.startswith(home) for home in SQL_HOMES):
                continue
            for n, line in enumerate(lines, 1):
                if SQL.search(line):
                    breaches.append(f"{rel}:{n}: SQL outside store/: {line.strip()[:80]}")
    for b in breaches:
        print(b)
    if breaches:
        sys.exit(1)
    print("layout ok: files within", MAX_LINES, "lines, SQL only in store/ and db.rs")


if __name__ == "__main__":
    main()
