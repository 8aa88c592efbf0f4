"""``termchat chat``: the Textual app.

Layout: a conversation list (toggleable) on the left; the conversation, the attachment chips and
the prompt in the middle; a status line (model, tokens, cost) and the key footer at the bottom.

The provider is reached only through :func:`termchat.core.engine.stream_chat` from async
workers (:mod:`termchat.tui.turns`): in the warm core process the CLI shares when it is enabled
(started after the first frame), otherwise in this process, where LiteLLM is imported after the
first frame in a worker thread (:func:`termchat.core.engine.aload_litellm`). A message sent
before the core is ready waits for it. Conversations live in the shared store (:class:`termchat.store.Store`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static
from textual.worker import Worker

from ..core.errors import TermchatError
from ..core.types import ChatRequest
from ..render import sanitize
from ..turn import Outcome, store_reply, title_for
from . import turns
from .widgets.conversation import ConversationView
from .widgets.message import MessageView
from .widgets.prompt import AttachmentBar, PromptInput
from .widgets.sidebar import Sidebar

if TYPE_CHECKING:
    from .widgets.panes import ComparePanes

# Screens, dialogs and the comparison panes are imported where they are first used: nothing
# that the first frame does not show is imported before it is painted.

SLASH_COMMANDS = ("/model", "/system", "/image", "/speak", "/clear", "/export", "/help")


class StatusBar(Static):
    """One line: the model, the conversation's tokens and cost, and what is pending."""


class ChatApp(App[None]):
    """The chat app.

    Args:
        config: the loaded :class:`termchat.config.Config`.
        store: the history :class:`termchat.store.Store` (opened in the app's thread).
        model: a model name (``-m``) or ``None`` for the conversation's or the default model.
        conversation_id: open this conversation (``--cid``); ``continue_last`` opens the latest.
        system: system prompt for a new conversation (``-s``); options: model options (``-o``).
        load_core: after the first frame, start the warm core (or import LiteLLM here when
            the warm core is off; see :class:`termchat.tui.turns.CoreLink`). Tests of the
            first frame may turn it off; a message sent then still starts it.
    """

    CSS_PATH = str(Path(__file__).with_name("termchat.tcss"))
    TITLE = "termchat"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("escape", "cancel", "Cancel reply", id="chat.cancel", show=False),
        Binding("ctrl+n", "new_conversation", "New", id="chat.new", priority=True),
        Binding("ctrl+l", "pick_model", "Model", id="chat.model", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="chat.sidebar", priority=True),
        Binding("ctrl+f", "search", "Search", id="chat.search", priority=True),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate", priority=True),
        Binding("ctrl+g", "edit_last", "Edit last", id="chat.edit_last", priority=True, show=False),
        Binding("ctrl+o", "attach", "Attach image", id="chat.attach", priority=True, show=False),
        Binding("ctrl+t", "compare", "Compare", id="chat.compare", priority=True, show=False),
        Binding("ctrl+s", "system_dialog", "System", id="chat.system", priority=True, show=False),
        Binding("f1", "help", "Help", id="chat.help"),
        Binding("f2", "rename", "Rename", id="chat.rename", show=False),
        Binding("f3", "export", "Export", id="chat.export", show=False),
        Binding("f4", "copy", "Copy", id="chat.copy", show=False),
    ]

    def __init__(
        self,
        config: Any,
        store: Any,
        *,
        model: str | None = None,
        conversation_id: str | None = None,
        continue_last: bool = False,
        system: str | None = None,
        options: dict[str, Any] | None = None,
        load_core: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.model: str | None = model
        self._model_asked = model is not None
        self._open_cid = conversation_id
        self._continue_last = continue_last
        self.conv: Any = None
        self.system: str | None = system
        self.options: dict[str, Any] = dict(options or {})
        self.core = turns.CoreLink(config, load=load_core)
        self._heap_frozen = False  # after the first frame
        self._heap_frozen_reply = False  # after the first reply (Markdown, Pygments loaded)
        self.reply_worker: Worker | None = None
        self.compare_models: list[str] | None = None
        self.panes: ComparePanes | None = None
        self._pane_outcomes: list[Outcome | None] = []
        self._pane_workers: list[Worker] = []
        self._pane_user: tuple[int, str] | None = None
        self._theme_ready = False
        self.show_sidebar = bool(config.get("tui.show_sidebar"))
        self.keymap_overrides: dict[str, str] = {}
        """Binding id -> key(s) (comma-separated), from ``[keybindings]``: the keymap given
        to Textual (``set_keymap``), kept for the keys the prompt handles itself and for help."""

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield ConversationView(id="conversation")
                yield AttachmentBar(id="attachments")
                yield PromptInput(id="prompt")
        yield StatusBar(id="status")
        # the key footer: mounted right after the first frame (_after_first_frame)

    @property
    def conversation(self) -> ConversationView:
        """The conversation view."""
        return self.query_one("#conversation", ConversationView)

    @property
    def prompt(self) -> PromptInput:
        """The prompt editor."""
        return self.query_one("#prompt", PromptInput)

    @property
    def sidebar(self) -> Sidebar:
        """The conversation list."""
        return self.query_one("#sidebar", Sidebar)

    async def on_mount(self) -> None:
        keymap = self.config.keybindings
        if keymap:
            self.keymap_overrides = dict(keymap)
            self.set_keymap(keymap)
        theme = self.config.get("tui.theme")
        if theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self._theme_ready = True
        self.sidebar.display = self.show_sidebar
        self.prompt.focus()
        conv = None
        try:
            if self._open_cid:
                conv = self.store.get_conversation(self._open_cid)
            elif self._continue_last:
                conv = self.store.latest_conversation()
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error")
        if conv is not None:
            await self.open_conversation(conv.id)
        else:
            await self.conversation.load([])
            self.refresh_sidebar()
        if self.model is None and self.conv is None:
            self._pick_default()
        self.update_status()
        self.call_after_refresh(self._after_first_frame)
        self.call_after_refresh(self.core.start)
        if self.core.use_warm:
            # the warm core exits after warm_core.idle_seconds without requests: not while the
            # app is open
            every = max(5.0, min(120.0, float(self.config.get("warm_core.idle_seconds")) / 3))
            self.set_interval(every, self._keep_core, name="keep the warm core")

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:
        """Push a screen (the footer is composed first, under the main screen's bindings, if a
        dialog opens before the first frame was followed up)."""
        self._after_first_frame()
        return super().push_screen(*args, **kwargs)

    def _after_first_frame(self) -> None:
        """Show what the first frame leaves out: the key footer (composing it re-composes its
        keys several times as the app starts) and the conversation list's rows. The first
        frame (conversation, prompt, status) paints a tenth of a second sooner."""
        if not self.screen_stack:
            return
        main = self.screen_stack[0]  # a dialog may already be open over it
        try:
            main.query_one("#sidebar", Sidebar).option_list.display = True
        except NoMatches:  # not composed yet: this runs again after the first frame
            return
        if not self._heap_frozen:
            self._heap_frozen = True
            turns.freeze_heap()
        if not main.query(Footer):
            # not awaited: composed after the first frame is shown; it shows the keys when
            # the bindings are next announced
            footer = Footer()
            footer.bindings_changed(main)  # it missed the announcement of the bindings
            main.mount(footer)

    @work(thread=True, group="core-keepalive", exclusive=True)
    def _keep_core(self) -> None:
        self.core.keepalive()

    async def wait_core(self) -> None:
        """Wait until LiteLLM is imported in this process, for the core calls that run here
        (``/image``, ``/speak``).

        Raises:
            TermchatError: LiteLLM cannot be imported (an install problem).
        """
        await self.core.wait_inprocess()

    @work(thread=True, group="default-model")
    def _pick_default(self) -> None:
        from ..core.catalog import pick_default_model

        try:
            name, why = pick_default_model(self.config)
        except TermchatError as err:
            self.call_from_thread(self.notify, turns.error_text(err), severity="warning", timeout=10)
            return
        self.call_from_thread(self._set_default_model, name, why)

    def _set_default_model(self, name: str, why: str) -> None:
        if self.model is None:
            self.model = name
            if why:
                self.notify(f"using {name} ({why})", timeout=4)
            self.update_status()

    def _remember_theme(self, theme: Any) -> None:
        if not self._theme_ready:
            return
        try:
            from ..config import set_value

            set_value("tui.theme", theme.name)
        except Exception as exc:  # a malformed config file is never rewritten
            self.notify(f"theme not saved: {exc}", severity="warning")

    # -- status -----------------------------------------------------------------------------

    def update_status(self) -> None:
        """Refresh the status line."""
        bits = [f"model: {self.model or 'none'}"]
        if self.conv is not None:
            c = self.store.get_conversation(self.conv.id)
            tokens = c.prompt_tokens + c.completion_tokens
            bits.append(f"{tokens:,} tokens")
            bits.append(f"${c.cost_usd:.4f}")
        else:
            bits.append("new conversation")
        if self.system:
            bits.append("system prompt set")
        if self.options:
            bits.append(", ".join(f"{k}={v}" for k, v in sorted(self.options.items())))
        if self.compare_models:
            bits.append("next message compares: " + ", ".join(self.compare_models))
        self.query_one(StatusBar).update(Content(sanitize("  │  ".join(bits))))

    def refresh_sidebar(self) -> None:
        """Reload the conversation list from the store (another instance may have written)."""
        self.sidebar.show(self.store.list_conversations(limit=200), self.conv.id if self.conv else None)

    # -- conversations ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a reply (or a comparison) is streaming."""
        running = self.reply_worker is not None and not self.reply_worker.is_finished
        return running or any(not w.is_finished for w in self._pane_workers)

    async def open_conversation(self, cid: str) -> None:
        """Show conversation ``cid`` (its model, system prompt and options become current)."""
        conv = self.store.get_conversation(cid)
        self.conv = conv
        if conv.model and not self._model_asked:
            self.model = conv.model
        self._model_asked = False
        self.system = conv.system
        self.options = dict(conv.options)
        await self.conversation.load(self.store.messages(cid))
        self.refresh_sidebar()
        self.update_status()

    async def action_new_conversation(self) -> None:
        """Start a new conversation (created in the store on the first message)."""
        if self.busy:
            self.notify("a reply is streaming; Esc cancels it", severity="warning")
            return
        self.conv = None
        self.system = None
        self.options = {}
        await self.conversation.load([])
        self.refresh_sidebar()
        self.update_status()
        self.prompt.focus()

    @on(Sidebar.Selected)
    async def _on_sidebar_selected(self, event: Sidebar.Selected) -> None:
        if type(event) is not Sidebar.Selected:
            return
        if self.busy:
            self.notify("a reply is streaming; Esc cancels it", severity="warning")
            return
        await self.open_conversation(event.cid)
        self.prompt.focus()

    @on(Sidebar.RenameRequested)
    def _on_rename_requested(self, event: Sidebar.RenameRequested) -> None:
        self.rename_conversation(event.cid)

    @on(Sidebar.DeleteRequested)
    def _on_delete_requested(self, event: Sidebar.DeleteRequested) -> None:
        self.delete_conversation(event.cid)

    def action_rename(self) -> None:
        """Rename the current conversation."""
        if self.conv is None:
            self.notify("nothing to rename yet", severity="warning")
            return
        self.rename_conversation(self.conv.id)

    def rename_conversation(self, cid: str) -> None:
        """Ask for a new title for ``cid``."""
        conv = self.store.get_conversation(cid)

        def done(title: str | None) -> None:
            if title:
                self.store.update_conversation(cid, title=title)
                if self.conv is not None and self.conv.id == cid:
                    self.conv = self.store.get_conversation(cid)
                self.refresh_sidebar()

        from .screens.dialogs import TextInputScreen

        self.push_screen(TextInputScreen("Rename conversation", conv.title), done)

    def action_delete(self) -> None:
        """Delete the current conversation (after confirmation)."""
        if self.conv is not None:
            self.delete_conversation(self.conv.id)

    def delete_conversation(self, cid: str) -> None:
        """Ask, then delete ``cid`` and its messages."""
        conv = self.store.get_conversation(cid)

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            if self.conv is not None and self.conv.id == cid:
                if self.busy:
                    self.notify("a reply is streaming; Esc cancels it first", severity="warning")
                    return
                self.store.delete_conversation(cid)
                await self.action_new_conversation()
            else:
                self.store.delete_conversation(cid)
            self.refresh_sidebar()
            self.notify("conversation deleted")

        title = conv.title or conv.id
        from .screens.dialogs import ConfirmScreen

        self.push_screen(ConfirmScreen(f"Delete “{title}” and its {conv.message_count} messages?",
                                       yes="Delete"), done)

    def action_toggle_sidebar(self) -> None:
        """Show or hide the conversation list (remembered in ``tui.show_sidebar``)."""
        self.show_sidebar = not self.show_sidebar
        self.sidebar.display = self.show_sidebar
        try:
            from ..config import set_value

            set_value("tui.show_sidebar", "true" if self.show_sidebar else "false")
        except Exception:
            pass

    def action_search(self) -> None:
        """Full-text search over all conversations."""

        async def done(hit: tuple[str, int] | None) -> None:
            if hit is None:
                return
            if self.busy:
                self.notify("a reply is streaming; Esc cancels it", severity="warning")
                return
            cid, mid = hit
            await self.open_conversation(cid)
            await self.reveal_message(mid)

        from .screens.search import SearchScreen

        self.push_screen(SearchScreen(self.store), done)

    async def reveal_message(self, mid: int) -> None:
        """Scroll to message ``mid`` of the open conversation, mounting older pages if needed."""
        view = self.conversation
        idx = next((i for i, r in enumerate(view.rows) if r.id == mid), None)
        if idx is None:
            return
        while idx < view.first_mounted:
            await view.load_older()
        for mv in view.message_views():
            if mv.message_id == mid:
                view.release_anchor()
                self.call_after_refresh(view.scroll_to_widget, mv, animate=False, top=True)
                mv.add_class("found")

    # -- model ------------------------------------------------------------------------------

    def action_pick_model(self) -> None:
        """Open the model picker."""

        def done(name: str | None) -> None:
            if name:
                self.switch_model(name)

        from .screens.model_picker import ModelPicker

        self.push_screen(ModelPicker(self.config, self.model), done)

    def switch_model(self, name: str) -> bool:
        """Make ``name`` the model of the next messages (resolution errors become a notice)."""
        from ..core.catalog import resolve_model

        try:
            rm = resolve_model(name, self.config, require_key=False)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error", timeout=8)
            return False
        self.model = rm.id
        if self.conv is not None:
            self.store.update_conversation(self.conv.id, model=rm.id)
        self.update_status()
        return True

    # -- sending ----------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _on_submit(self, event: PromptInput.Submitted) -> None:
        await self.send(event.text)

    async def send(self, text: str) -> None:
        """Handle the prompt's text: a slash command, or a message to the model(s)."""
        stripped = text.strip()
        if stripped.startswith("/"):
            await self.slash(stripped)
            return
        attachments = list(self.query_one(AttachmentBar).attachments)
        if not stripped and not attachments:
            return
        if self.busy or self.panes is not None:
            self.notify("a reply is streaming (Esc cancels it)" if self.busy
                        else "keep one of the answers (1–4) or discard them (x) first",
                        severity="warning")
            return
        if self.compare_models:
            await self.send_compare(text, attachments)
            return
        if not self.model:
            self.notify("no model chosen: press Ctrl+L to pick one", severity="error")
            return
        from ..core.catalog import resolve_model

        try:
            rm = resolve_model(self.model, self.config)
        except TermchatError as err:
            await self.conversation.add_notice(turns.error_text(err))
            return  # the prompt keeps its text
        if attachments and not rm.info.get("supports_vision") and rm.provider != "openai":
            self.notify(f"{rm.id} may not accept images", severity="warning")
        user_mid = await self._store_user(text, attachments, rm.id)
        self.reply_worker = self.run_worker(
            self.reply(rm, restore=(user_mid, text)), group="reply", exclusive=False
        )

    async def _store_user(self, text: str, attachments: list[Any], model_id: str) -> int:
        self.prompt.clear()
        await self.query_one(AttachmentBar).clear()
        if self.conv is None:
            self.conv = self.store.create_conversation(
                model_id, self.system, title=title_for(text) or "image", options=self.options
            )
        elif self.conv.model != model_id:
            self.store.update_conversation(self.conv.id, model=model_id)
        mid = self.store.add_message(
            self.conv.id, "user", text, attachments=turns.attachment_records(attachments)
        )
        await self.conversation.append_row(self.store.get_message(mid))
        self.conversation.anchor()
        self.refresh_sidebar()
        return mid

    def _request(self, rm: Any) -> ChatRequest:
        assert self.conv is not None
        rows = self.store.messages(self.conv.id)
        return ChatRequest(model=rm.id, messages=turns.build_messages(self.system, rows),
                           options=dict(self.options))

    async def reply(self, rm: Any, restore: tuple[int, str] | None = None) -> Outcome:
        """Stream a reply from ``rm`` to the stored conversation, store it, show it.

        ``restore``: ``(user message id, text)`` — when the request fails before any text, the
        user message is removed again and its text put back into the prompt.
        """
        assert self.conv is not None
        cid = self.conv.id
        req = self._request(rm)
        view = await self.conversation.add_pending(rm.id)
        outcome = Outcome(model=rm.id)
        try:
            await turns.run_stream(req, self.config, rm, view, outcome, self.core)
        finally:
            await self._finish_reply(cid, view, outcome, restore)
        return outcome

    async def _finish_reply(self, cid: str, view: MessageView, outcome: Outcome,
                            restore: tuple[int, str] | None) -> None:
        mid = store_reply(self.store, cid, outcome)  # store first: never lose a word
        try:
            if mid is not None:
                self.conversation.attach_row(view, self.store.get_message(mid))
                await view.finish(outcome.text, turns.header_for(outcome),
                                  outcome.interrupted or outcome.error is not None)
            else:
                await view.remove()
            if outcome.error is not None:
                await self.conversation.add_notice(turns.error_text(outcome.error))
                if mid is None and restore is not None:
                    self.store.delete_message(restore[0])
                    await self.conversation.remove_message(restore[0])
                    self.prompt.restore(restore[1])
            elif outcome.interrupted and mid is None and restore is not None:
                self.store.delete_message(restore[0])
                await self.conversation.remove_message(restore[0])
                self.prompt.restore(restore[1])
            self.update_status()
            self.refresh_sidebar()
            if not self._heap_frozen_reply:
                self._heap_frozen_reply = True
                turns.freeze_heap()
        except Exception:  # the app is closing; the reply is stored
            pass

    def action_cancel(self) -> None:
        """Stop the streaming reply(ies); the partial text is kept, marked interrupted."""
        if self.reply_worker is not None and not self.reply_worker.is_finished:
            self.reply_worker.cancel()
        for w in self._pane_workers:
            if not w.is_finished:
                w.cancel()

    async def action_regenerate(self) -> None:
        """Ask again for the last reply (the old one is deleted)."""
        if self.busy or self.conv is None or self.panes is not None:
            return
        rows = self.conversation.rows
        if not rows:
            return
        if not self.model:
            self.notify("no model chosen: press Ctrl+L", severity="error")
            return
        from ..core.catalog import resolve_model

        try:
            rm = resolve_model(self.model, self.config)
        except TermchatError as err:
            await self.conversation.add_notice(turns.error_text(err))
            return
        if rows[-1].role == "assistant":
            last = rows[-1]
            self.store.delete_message(last.id)
            await self.conversation.remove_message(last.id)
        self.reply_worker = self.run_worker(self.reply(rm), group="reply")

    async def action_edit_last(self) -> None:
        """Take the last prompt (and its reply) back into the editor to change and resend."""
        if self.busy or self.conv is None or self.panes is not None:
            return
        rows = self.conversation.rows
        idx = next((i for i in range(len(rows) - 1, -1, -1) if rows[i].role == "user"), None)
        if idx is None:
            return
        text = rows[idx].content
        for r in list(rows[idx:]):
            self.store.delete_message(r.id)
            await self.conversation.remove_message(r.id)
        self.prompt.restore(text)
        self.prompt.focus()
        self.update_status()

    # -- comparison panes -------------------------------------------------------------------

    def action_compare(self) -> None:
        """Choose 2–4 models that the next message is sent to, side by side."""
        current = ", ".join(self.compare_models or ([self.model] if self.model else []))

        def done(value: str | None) -> None:
            if value is None:
                return
            names = [n for n in value.replace(",", " ").split() if n]
            if not names:
                self.compare_models = None
            elif not 2 <= len(names) <= 4:
                self.notify("compare takes 2 to 4 models", severity="error")
                return
            else:
                from ..core.catalog import resolve_model

                try:
                    ids = [resolve_model(n, self.config, require_key=False).id for n in names]
                except TermchatError as err:
                    self.notify(turns.error_text(err), severity="error", timeout=8)
                    return
                self.compare_models = ids
                self.notify("the next message goes to: " + ", ".join(ids))
            self.update_status()

        from .screens.dialogs import TextInputScreen

        self.push_screen(TextInputScreen("Compare models (2–4 names, empty turns it off)",
                                         current, "claude gpt local"), done)

    async def send_compare(self, text: str, attachments: list[Any]) -> None:
        """Send ``text`` to every model of :attr:`compare_models` and stream them in panes."""
        from ..core.catalog import resolve_model

        models = list(self.compare_models or [])
        try:
            rms = [resolve_model(m, self.config) for m in models]
        except TermchatError as err:
            await self.conversation.add_notice(turns.error_text(err))
            return
        user_mid = await self._store_user(text, attachments, self.model or rms[0].id)
        self._pane_user = (user_mid, text)
        req = self._request(rms[0])
        from .widgets.panes import ComparePanes

        self.panes = ComparePanes([rm.id for rm in rms], id="panes")
        self.conversation.display = False
        await self.query_one("#main").mount(self.panes, before=self.query_one(AttachmentBar))
        self.panes.focus()
        self._pane_outcomes = [None] * len(rms)
        self._pane_workers = []
        for i, rm in enumerate(rms):
            pane_req = ChatRequest(model=rm.id, messages=req.messages, options=dict(req.options))
            self._pane_workers.append(
                self.run_worker(self._pane_reply(i, rm, pane_req), group="panes")
            )

    async def _pane_reply(self, index: int, rm: Any, req: ChatRequest) -> None:
        assert self.panes is not None
        view = self.panes.panes[index].view
        view.set_status("waiting for the model…")
        view.start_stream()
        outcome = Outcome(model=rm.id)
        self._pane_outcomes[index] = outcome
        try:
            await turns.run_stream(req, self.config, rm, view, outcome, self.core)
        finally:
            try:
                await view.finish(outcome.text, turns.header_for(outcome),
                                  outcome.interrupted or outcome.error is not None)
                if outcome.error is not None:
                    view.set_status(turns.error_text(outcome.error))
            except Exception:
                pass

    async def on_compare_panes_keep(self, event: ComparePanes.Keep) -> None:
        if self.busy:
            self.notify("wait for the answers to finish, or Esc to stop them", severity="warning")
            return
        outcome = self._pane_outcomes[event.index] if event.index < len(self._pane_outcomes) else None
        if outcome is None or not outcome.text:
            self.notify("that pane has no answer to keep", severity="warning")
            return
        assert self.conv is not None
        mid = store_reply(self.store, self.conv.id, outcome)
        await self._close_panes()
        if mid is not None:
            await self.conversation.append_row(self.store.get_message(mid))
        self.switch_model(outcome.model)
        self.compare_models = None
        self.update_status()

    async def on_compare_panes_discard(self, event: ComparePanes.Discard) -> None:
        self.action_cancel()
        if self._pane_user is not None:
            mid, text = self._pane_user
            self.store.delete_message(mid)
            await self.conversation.remove_message(mid)
            self.prompt.restore(text)
        await self._close_panes()
        self.update_status()

    async def _close_panes(self) -> None:
        if self.panes is not None:
            await self.panes.remove()
        self.panes = None
        self._pane_user = None
        self._pane_workers = []
        self.conversation.display = True
        self.conversation.anchor()
        self.prompt.focus()

    # -- attachments, system prompt, export, copy, help ------------------------------------

    def action_attach(self) -> None:
        """Attach an image file (validated with Pillow) to the next message."""

        async def done(path: str | None) -> None:
            if path:
                await self.attach_path(path)

        from .screens.dialogs import TextInputScreen

        self.push_screen(TextInputScreen("Attach an image (path)", "", "~/picture.png"), done)

    async def attach_path(self, path: str) -> bool:
        """Validate ``path`` as an image and add it to the next message."""
        try:
            att, label = turns.load_image(path)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error")
            return False
        await self.query_one(AttachmentBar).add(att, label)
        return True

    def action_system_dialog(self) -> None:
        """Edit the conversation's system prompt and options."""

        def done(result: tuple[str | None, dict[str, Any]] | None) -> None:
            if result is not None:
                self.set_system(*result)

        from .screens.system import SystemScreen

        self.push_screen(SystemScreen(self.system, self.options), done)

    def set_system(self, system: str | None, options: dict[str, Any] | None = None) -> None:
        """Set the system prompt (and options) of the current conversation."""
        self.system = system
        if options is not None:
            self.options = dict(options)
        if self.conv is not None:
            self.store.update_conversation(self.conv.id, system=system, options=self.options)
        self.update_status()

    def action_export(self) -> None:
        """Export the conversation to Markdown or JSON."""
        if self.conv is None:
            self.notify("nothing to export yet", severity="warning")
            return

        def done(result: tuple[str, Path] | None) -> None:
            if result is not None:
                self.export(*result)

        from .screens.export import ExportScreen

        self.push_screen(ExportScreen(self.store.get_conversation(self.conv.id)), done)

    def export(self, fmt: str, path: Path) -> Path | None:
        """Write the conversation to ``path`` (never over an existing file)."""
        if self.conv is None:
            return None
        try:
            from .screens.export import write_export

            out = write_export(self.store, self.conv.id, fmt, path)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error")
            return None
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return None
        self.notify(f"exported to {out}")
        return out

    def action_copy(self) -> None:
        """Copy the focused message (or the last reply), whole or one code block (OSC 52)."""
        focused = self.focused
        target = focused if isinstance(focused, MessageView) else None
        if target is None:
            replies = [v for v in self.conversation.message_views() if v.role == "assistant"]
            target = replies[-1] if replies else None
        if target is None:
            self.notify("no message to copy", severity="warning")
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.copy_to_clipboard(sanitize(text))
                self.notify(f"copied {len(text):,} characters")

        from .screens.copy import CopyScreen

        self.push_screen(CopyScreen(target.source), done)

    def help_rows(self) -> list[tuple[str, str, str]]:
        """``(key, description, binding id)`` of the app's bindings, as currently mapped."""
        from .widgets.panes import ComparePanes

        rows = []
        keymap = self.keymap_overrides
        classes = [(type(self), self.BINDINGS), (PromptInput, PromptInput.BINDINGS),
                   (Sidebar, Sidebar.BINDINGS), (ComparePanes, ComparePanes.BINDINGS)]
        for _, bindings in classes:
            for b in bindings:
                if not isinstance(b, Binding) or not b.id:
                    continue
                key = str(keymap[b.id]) if b.id in keymap else b.key
                rows.append((key, b.description or b.action, b.id))
        return rows

    def action_help(self) -> None:
        """Show the keys and slash commands."""
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_rows()))

    # -- slash commands ---------------------------------------------------------------------

    async def slash(self, line: str) -> None:
        """Run a slash command (``/model``, ``/system``, ``/clear``, ``/export``, ``/help``).
        An unknown command is reported and the prompt keeps its text."""
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        if cmd not in SLASH_COMMANDS:
            self.notify(f"unknown command {cmd}; /help lists them", severity="error")
            return
        self.prompt.clear()
        if cmd == "/model":
            if arg:
                if not self.switch_model(arg):
                    self.prompt.restore(line)
            else:
                self.action_pick_model()
        elif cmd == "/system":
            if arg:
                self.set_system(arg)
                self.notify("system prompt set")
            else:
                self.action_system_dialog()
        elif cmd == "/clear":
            await self.action_new_conversation()
        elif cmd == "/export":
            parts = arg.split(maxsplit=1)
            fmt = parts[0] if parts and parts[0] in ("md", "json") else None
            rest = parts[1] if fmt and len(parts) > 1 else (arg if not fmt else "")
            if self.conv is None:
                self.notify("nothing to export yet", severity="warning")
            elif rest:
                fmt = fmt or ("json" if rest.endswith(".json") else "md")
                if self.export(fmt, Path(rest)) is None:
                    self.prompt.restore(line)
            else:
                self.action_export()
        elif cmd == "/help":
            self.action_help()
        elif cmd == "/image":
            self.run_worker(self._image(arg, line), group="media")
        elif cmd == "/speak":
            self.run_worker(self._speak(arg, line), group="media")

    def _notice_from_core(self, text: str) -> None:
        """A retry notice from the core thread, shown in the app."""
        self.call_from_thread(self.notify, text, severity="warning")

    async def _image(self, prompt: str, line: str) -> None:
        """``/image <prompt>``: generate with ``image.model`` and save (see media_commands)."""
        from . import media_commands as mc

        if not prompt.strip():
            self.notify("/image needs a description, e.g. /image a lighthouse in a storm", severity="error")
            self.prompt.restore(line)
            return
        await self.wait_core()
        self.notify(f"generating an image with {self.config.get('image.model')}…", timeout=3)
        try:
            paths = await mc.on_core_thread(mc.make_images(self.config, prompt, notify=self._notice_from_core))
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error", timeout=8)
            self.prompt.restore(line)
            return
        self.notify("image saved: " + ", ".join(str(p) for p in paths), timeout=8)

    async def _speak(self, text: str, line: str) -> None:
        """``/speak [text]``: speak the text or the last reply; save the WAV and play it."""
        from . import media_commands as mc

        if not text.strip() and self.conv is not None:
            replies = [m for m in self.store.messages(self.conv.id) if m.role == "assistant" and m.content]
            text = replies[-1].content if replies else ""
        if not text.strip():
            self.notify("nothing to speak: /speak <text>, or /speak alone after a reply", severity="error")
            self.prompt.restore(line)
            return
        await self.wait_core()
        self.notify(f"speaking with {self.config.get('speech.model')}…", timeout=3)
        try:
            path, note = await mc.on_core_thread(mc.speak(self.config, text, notify=self._notice_from_core))
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error", timeout=8)
            self.prompt.restore(line)
            return
        self.notify(f"speech {note}: {path}", timeout=8)

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Any:
        """Palette commands: termchat's actions plus Textual's (themes, keys, quit)."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Switch model", "Pick the model of the next messages", self.action_pick_model)
        yield SystemCommand("New conversation", "Start a fresh conversation", self.action_new_conversation)
        yield SystemCommand("Search history", "Full-text search in all conversations", self.action_search)
        yield SystemCommand("Compare models", "Send the next message to 2–4 models side by side", self.action_compare)
        yield SystemCommand("System prompt and options", "Per-conversation system prompt, temperature, max tokens", self.action_system_dialog)
        yield SystemCommand("Attach image", "Attach an image to the next message", self.action_attach)
        yield SystemCommand("Regenerate reply", "Ask again for the last reply", self.action_regenerate)
        yield SystemCommand("Edit last prompt", "Take the last prompt back to change and resend it", self.action_edit_last)
        yield SystemCommand("Copy message", "Copy a reply or one of its code blocks", self.action_copy)
        yield SystemCommand("Export conversation", "Write it as Markdown or JSON", self.action_export)
        yield SystemCommand("Rename conversation", "Give the conversation a title", self.action_rename)
        yield SystemCommand("Delete conversation", "Delete it and its messages", self.action_delete)
        yield SystemCommand("Toggle sidebar", "Show or hide the conversation list", self.action_toggle_sidebar)
        yield SystemCommand("Help", "Keys and slash commands", self.action_help)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc cancels only while a reply streams; the app's keys stay out of dialogs' way."""
        if action == "cancel":
            return self.busy
        return not (isinstance(self.screen, ModalScreen) and action not in ("quit", "command_palette"))

