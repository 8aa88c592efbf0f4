"""CI's skip gate (tests/support/skip_gate.py) on real JUnit reports written by pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import skip_gate


def _report(tmp_path: Path, body: str) -> Path:
    """Run pytest on a one-file suite and return its JUnit report."""
    (tmp_path / "test_x.py").write_text(body)
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={report}", str(tmp_path / "test_x.py")],
                   capture_output=True, cwd=tmp_path, check=False)
    return report


def test_a_skip_fails_the_gate_and_is_named(tmp_path, capsys):
    report = _report(tmp_path, "import pytest\n\ndef test_ok():\n    pass\n\n"
                               "def test_gone():\n    pytest.skip('tmux is missing')\n")
    assert skip_gate.skipped_tests(report) == [("test_x::test_gone", "tmux is missing")]
    assert skip_gate.main([str(report)]) == 1
    assert "test_gone: tmux is missing" in capsys.readouterr().out


def test_no_skip_passes_quietly_and_an_allowed_reason_passes(tmp_path, capsys):
    clean = _report(tmp_path, "def test_ok():\n    pass\n")
    assert skip_gate.main([str(clean)]) == 0
    assert capsys.readouterr().out == ""
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("# comment\nneeds a GPU  # lent machines only\n")
    assert skip_gate.allowed_reasons(allowed) == ["needs a GPU"]
    assert skip_gate.allowed_reasons(tmp_path / "absent.txt") == []
