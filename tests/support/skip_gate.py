"""CI's skip gate: fail when a test was skipped, unless its reason is allowed.

Usage: ``python tests/support/skip_gate.py REPORT.xml`` after ``pytest --junitxml=REPORT.xml``.
Every test in this suite must run in CI (tmux, PortAudio and the embedded model are installed by
``.ci/run``), so a skip there means a missing part, not a passing test. A reason may be allowed
by a line of ``tests/allowed_skips.txt`` (a substring of the skip message; ``#`` starts a
comment). Prints nothing and exits 0 when no test was skipped; otherwise names each skipped test
with its reason and exits 1 if any of them is not allowed.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ALLOWED = Path(__file__).resolve().parent.parent / "allowed_skips.txt"


def allowed_reasons(path: Path = ALLOWED) -> list[str]:
    """The allowed skip-reason substrings (empty lines and ``#`` comments dropped)."""
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def skipped_tests(report: Path) -> list[tuple[str, str]]:
    """``(test id, reason)`` of every skipped test case in a JUnit XML report."""
    out = []
    for case in ET.parse(report).getroot().iter("testcase"):
        skip = case.find("skipped")
        if skip is not None:
            test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
            out.append((test_id, skip.get("message") or skip.text or "no reason given"))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: skip_gate.py REPORT.xml", file=sys.stderr)
        return 2
    allowed = allowed_reasons()
    bad = 0
    for test_id, reason in skipped_tests(Path(argv[0])):
        ok = any(a in reason for a in allowed)
        bad += not ok
        print(f"ci: skipped {'(allowed)' if ok else '(not allowed)'}: {test_id}: {reason}")
    if bad:
        print(f"ci: {bad} test(s) skipped that must run in CI", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
