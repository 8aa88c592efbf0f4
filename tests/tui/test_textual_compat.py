"""The private Textual names that :mod:`termchat.tui.textual_compat` uses still exist and still
do what that module relies on. A failure names the installed Textual version: adapt
``src/termchat/tui/textual_compat.py`` (and only it) to that version."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys

import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Footer, Markdown, Static

from termchat.tui import textual_compat

TEXTUAL = importlib.metadata.version("textual")


def broken(what: str) -> None:
    pytest.fail(f"Textual {TEXTUAL} (termchat.tui.textual_compat was checked on Textual "
                f"{textual_compat.CHECKED_ON}): {what}; adapt src/termchat/tui/textual_compat.py",
                pytrace=False)


def check(ok: object, what: str) -> None:
    if not ok:
        broken(what)


class Host(App):
    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self.widgets


# -- Markdown._last_parsed_line (set_append_start) --------------------------------------------


def test_markdown_keeps_the_line_append_starts_from():
    md = Markdown("text")
    check(isinstance(getattr(md, "_last_parsed_line", None), int),
          "Markdown has no int attribute _last_parsed_line any more")
    for method in (Markdown.append, Markdown.update):
        check("_last_parsed_line" in inspect.getsource(method),
              f"Markdown.{method.__name__} no longer uses _last_parsed_line")


async def test_set_append_start_continues_an_open_code_fence():
    from textual.widgets.markdown import MarkdownFence

    md = Markdown()
    async with Host(md).run_test() as pilot:
        head = "Intro.\n\n```python\nx = 1\n"
        await md.update(head)
        textual_compat.set_append_start(md, 2)  # the fence starts on line 2
        await md.append("y = 2\n```\n\nAfter.\n")
        await pilot.pause()
        fences = list(md.query(MarkdownFence))
        check(len(fences) == 1 and "x = 1" in fences[0].code and "y = 2" in fences[0].code,
              "Markdown.append after set_append_start does not continue the open code fence "
              f"(fences: {[f.code for f in fences]!r})")
        check(md.source == head + "y = 2\n```\n\nAfter.\n", "Markdown.source is not the whole text")


# -- Widget._clear_arrangement_cache (forget_arrangements) ------------------------------------


def test_widget_can_clear_its_arrangement_cache():
    method = getattr(Widget, "_clear_arrangement_cache", None)
    check(callable(method), "Widget._clear_arrangement_cache is gone")
    check(list(inspect.signature(method).parameters) == ["self"],
          "Widget._clear_arrangement_cache takes other arguments than self now")


async def test_forget_arrangements_drops_the_cached_arrangement():
    box = Vertical(Static("a"), Static("b"))
    async with Host(box).run_test() as pilot:
        await pilot.pause()
        size = Size(40, 10)
        first = box.arrange(size)
        check(box.arrange(size) is first, "Widget.arrange no longer caches its result")
        textual_compat.forget_arrangements(box)
        check(box.arrange(size) is not first,
              "Widget._clear_arrangement_cache no longer clears what arrange() caches")


# -- Widget._anchor_released (holds_anchor) ---------------------------------------------------


def test_widget_tracks_a_released_anchor():
    check(getattr(Widget(), "_anchor_released", None) is False,
          "Widget has no bool attribute _anchor_released (False when new) any more")


async def test_holds_anchor_follows_anchor_and_release():
    view = VerticalScroll(*(Static(f"line {i}") for i in range(50)))
    async with Host(view).run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        check(not textual_compat.holds_anchor(view), "a view never anchored holds its anchor")
        view.anchor()
        await pilot.pause()
        check(textual_compat.holds_anchor(view), "an anchored view does not hold its anchor")
        view.release_anchor()
        check(not textual_compat.holds_anchor(view),
              "release_anchor() no longer sets Widget._anchor_released")
        view.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        check(not textual_compat.holds_anchor(view), "a view scrolled away holds its anchor")


# -- public names that replaced private ones elsewhere ----------------------------------------


def test_public_names_termchat_uses_instead():
    from textual.widgets import markdown

    check({"MarkdownBlock", "MarkdownFence"} <= set(markdown.__all__),
          "textual.widgets.markdown does not export MarkdownBlock and MarkdownFence")
    check(list(inspect.signature(Footer.bindings_changed).parameters) == ["self", "screen"],
          "Footer.bindings_changed(screen) changed (termchat's ChatApp calls it on the footer it "
          "mounts after the first frame)")
    check(callable(getattr(App, "set_keymap", None)), "App.set_keymap is gone")


def test_the_adapter_imports_no_markdown():
    # it is imported before the first frame; Markdown (markdown-it, Pygments) comes later
    code = ("import sys, termchat.tui.textual_compat\n"
            "print(sorted(m for m in sys.modules if m.startswith(('textual.widgets._markdown', "
            "'markdown_it'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
