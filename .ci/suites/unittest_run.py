"""Run a unittest suite, as ``python -m unittest`` would, minus the test ids listed in a file.

Usage: python unittest_run.py EXCLUDE_FILE [TEST_NAME ...]   (no names: discover from the
current directory). EXCLUDE_FILE holds one test id per line (``tests.test_x.Case.test_y``),
then ``#`` and the reason; it may be missing. Started by ``python -m wsfast.patch``, so the
patch is in force before any test module imports the library.
"""

from __future__ import annotations

import os
import sys
import unittest
from typing import Iterator, Set


def _excluded(path: str) -> Set[str]:
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.split("#", 1)[0].strip() for line in f} - {""}


def _tests(suite: unittest.TestSuite) -> Iterator[unittest.TestCase]:
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _tests(test)
        else:
            yield test


def main() -> int:
    exclude = _excluded(sys.argv[1])
    names = sys.argv[2:]
    sys.path.insert(0, os.getcwd())
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromNames(names) if names else loader.discover(".")
    kept = unittest.TestSuite()
    seen = set()
    for test in _tests(suite):
        if test.id() in exclude:
            seen.add(test.id())
            continue
        kept.addTest(test)
    missing = exclude - seen
    if missing:  # an exclusion that matches nothing is stale: say so, the counts would not add up
        print(f"excluded tests not found: {', '.join(sorted(missing))}", file=sys.stderr)
        return 2
    print(f"{len(seen)} tests excluded ({os.path.basename(sys.argv[1])})", file=sys.stderr)
    result = unittest.TextTestRunner(verbosity=1).run(kept)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
