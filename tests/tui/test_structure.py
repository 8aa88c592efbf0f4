"""The chat app's code stays in pieces of a readable size, without import cycles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "src" / "termchat" / "tui"
MAX_LINES = 500


def test_no_tui_module_is_over_500_lines():
    sizes = {p.relative_to(TUI).as_posix(): len(p.read_text().splitlines()) for p in TUI.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_the_reply_body_does_not_import_the_message_view():
    """widgets/reply and widgets/message share their chunk sizes through widgets/chunking:
    importing the Markdown body alone loads no message view (no cycle between the two)."""
    code = ("import sys; import termchat.tui.widgets.reply; "
            "print('termchat.tui.widgets.message' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
