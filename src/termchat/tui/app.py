"""``termchat chat``: the Textual app.

Layout: a conversation list (toggleable) on the left; the conversation, the attachment chips and
the prompt in the middle; a status line (model, tokens, cost) and the key footer at the bottom.

This module holds the layout, the keys, the screens and the wiring of the widgets to the
:class:`~termchat.tui.session.ChatSession`, which holds the conversation, the model, the system
prompt and options, and does the operations (send, regenerate, edit and resend, compare, new,
open, rename, delete) without a screen. The rest of the app's behaviour is in
:mod:`.conversations` (the list, open/rename/delete/search), :mod:`.compare` (the comparison
panes), :mod:`.actions` (dialogs: attach, system prompt, export, copy, help, palette),
:mod:`.media_ui` (``/image``, ``/speak``) and :mod:`.slash` (the one registry of slash commands).

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
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static
from textual.worker import Worker

from ..core.errors import TermchatError
from ..render import sanitize
from . import spend as budget_ui
from . import tools_ui, turns
from .actions import ActionsMixin
from .compare import CompareMixin
from .conversations import ConversationsMixin
from .media_ui import MediaMixin
from .session import ChatSession, NoModel, Turn
from .slash import COMMANDS
from .voice import VoiceMixin
from .widgets.conversation import ConversationView
from .widgets.message import MessageView
from .widgets.prompt import AttachmentBar, PromptInput
from .widgets.sidebar import Sidebar

if TYPE_CHECKING:
    from .widgets.panes import ComparePanes

# Screens, dialogs and the comparison panes are imported where they are first used: nothing
# that the first frame does not show is imported before it is painted.


class StatusBar(Static):
    """One line: the model, the conversation's tokens and cost, and what is pending."""


class ChatApp(ConversationsMixin, CompareMixin, ActionsMixin, MediaMixin, VoiceMixin, App[None]):
    """The chat app: the layout, the keys, the screens, and the wiring of the widgets to the
    :class:`~termchat.tui.session.ChatSession` that holds the conversation and does its
    operations. Conversation handling, comparison panes and the dialog actions are in
    :mod:`.conversations`, :mod:`.compare`, :mod:`.actions` and :mod:`.media_ui`; slash
    commands in :mod:`.slash`.

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
        Binding("f5", "voice_record", "Voice", id="chat.voice"),
        Binding("f6", "read_aloud", "Read aloud", id="chat.read_aloud", show=False),
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
        self.core = turns.CoreLink(config, load=load_core)
        self.session = ChatSession(config, store, self.core, model=model, system=system, options=options)
        self.session.tools.consent = tools_ui.ChatConsent(self)
        self.session.tools.on_error = self._tool_error
        self._open_cid = conversation_id
        self._continue_last = continue_last
        self._heap_frozen = False  # after the first frame
        self._heap_frozen_reply = False  # after the first reply (Markdown, Pygments loaded)
        self.reply_worker: Worker | None = None
        self.panes: ComparePanes | None = None
        self._pane_workers: list[Worker] = []
        self._theme_ready = False
        self.show_sidebar = bool(config.get("tui.show_sidebar"))
        self.keymap_overrides: dict[str, str] = {}
        """Binding id -> key(s) (comma-separated), from ``[keybindings]``: the keymap given
        to Textual (``set_keymap``), kept for the keys the prompt handles itself and for help."""

    # the session's state, as the app shows it
    @property
    def conv(self) -> Any:
        """The open conversation (``None``: a new one)."""
        return self.session.conv

    @property
    def model(self) -> str | None:
        """The model of the next messages."""
        return self.session.model

    @property
    def system(self) -> str | None:
        """The conversation's system prompt."""
        return self.session.system

    @property
    def options(self) -> dict[str, Any]:
        """The conversation's model options."""
        return self.session.options

    @property
    def compare_models(self) -> list[str] | None:
        """The models the next message is compared on, or ``None``."""
        return self.session.compare_models

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield ConversationView(id="conversation")
                yield AttachmentBar(id="attachments")
                yield PromptInput(id="prompt", commands=COMMANDS.complete)
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
            conv = self.session.find_initial(self._open_cid, self._continue_last)
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
            tools_ui.prepare(self.config)
            budget_ui.refresh_team(self)
        if not main.query(Footer):
            # not awaited: composed after the first frame is shown; it shows the keys when
            # the bindings are next announced
            footer = Footer()
            footer.bindings_changed(main)  # it missed the announcement of the bindings
            main.mount(footer)

    def _tool_error(self, text: str) -> None:
        """A tool left out (an MCP server that will not start): a notice (from any thread)."""
        self.call_from_thread(self.notify, sanitize(text), severity="warning", timeout=10,
                              markup=False)

    def on_unmount(self) -> None:
        tools_ui.shutdown()  # the MCP servers this chat started

    @work(thread=True, group="core-keepalive", exclusive=True)
    def _keep_core(self) -> None:
        self.core.keepalive()

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
        if self.session.set_default_model(name):
            if why:
                self.notify(f"using {name} ({why})", timeout=4)
            self.update_status()

    def _remember_theme(self, theme: Any) -> None:
        if not self._theme_ready:
            return
        try:
            from ..config_edit import set_value

            set_value("tui.theme", theme.name)
        except Exception as exc:  # a malformed config file is never rewritten
            self.notify(f"theme not saved: {exc}", severity="warning")

    # -- status -----------------------------------------------------------------------------

    def update_status(self) -> None:
        """Refresh the status line."""
        self.query_one(StatusBar).update(Content(sanitize("  │  ".join(self.session.status_bits()))))

    @property
    def busy(self) -> bool:
        """Whether a reply (or a comparison) is streaming."""
        running = self.reply_worker is not None and not self.reply_worker.is_finished
        return running or any(not w.is_finished for w in self._pane_workers)

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
        try:
            self.session.switch_model(name)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error", timeout=8)
            return False
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
            await COMMANDS.dispatch(self, stripped)
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
        rm = await self._resolve()
        if rm is None:
            return  # the prompt keeps its text
        warning = self.session.vision_warning(rm, attachments)
        if warning:
            self.notify(warning, severity="warning")
        user_mid = self.session.add_user(text, attachments, rm.id)
        await self.show_question(user_mid)
        self.reply_worker = self.run_worker(
            self.reply(rm, question=(user_mid, text)), group="reply", exclusive=False
        )

    async def _resolve(self) -> Any:
        """The session's model, resolved; ``None`` (and a notice) when it cannot be used."""
        try:
            return self.session.resolve()
        except NoModel as err:
            self.notify(err.message, severity="error")
        except TermchatError as err:
            await self.conversation.add_notice(turns.error_text(err))
        return None

    async def show_question(self, mid: int) -> None:
        """Show the question ``mid`` just stored; the prompt and the attachments are emptied."""
        self.prompt.clear()
        await self.query_one(AttachmentBar).clear()
        await self.conversation.append_row(self.store.get_message(mid))
        self.conversation.anchor()
        self.refresh_sidebar()

    async def reply(self, rm: Any, question: tuple[int, str] | None = None) -> Turn | None:
        """Stream a reply from ``rm`` to the stored conversation, store it, show it.

        ``question``: ``(id, text)`` of the question just sent — when the request fails before
        any text, the question is removed again and its text put back into the prompt.
        """
        view = await self.conversation.add_pending(rm.id)
        turn = None
        try:
            turn = await self.session.reply(rm, self.read_aloud_view(view), question=question)
        finally:
            self.read_aloud_end(turn is None or turn.outcome.interrupted)
            if turn is not None:
                await self._show_turn(view, turn)
        return turn

    async def _show_turn(self, view: MessageView, turn: Turn) -> None:
        outcome = turn.outcome
        try:
            if turn.reply_id is not None:
                self.conversation.attach_row(view, self.store.get_message(turn.reply_id))
                await view.finish(outcome.text, turns.header_for(outcome),
                                  outcome.interrupted or outcome.error is not None)
            else:
                await view.remove()
            if outcome.error is not None:
                await self.conversation.add_notice(turns.error_text(outcome.error))
            if turn.withdrawn and turn.user_id is not None:
                await self.conversation.remove_message(turn.user_id)
                self.prompt.restore(turn.text)
            self.update_status()
            budget_ui.refresh_team(self)
            self.refresh_sidebar()
            if not self._heap_frozen_reply:
                self._heap_frozen_reply = True
                turns.freeze_heap()
        except Exception:  # the app is closing; the reply is stored
            pass

    def action_cancel(self) -> None:
        """Stop the streaming reply(ies); the partial text is kept, marked interrupted. Stops
        a recording and speech too."""
        self.voice_cancel()
        if self.reply_worker is not None and not self.reply_worker.is_finished:
            self.reply_worker.cancel()
        for w in self._pane_workers:
            if not w.is_finished:
                w.cancel()

    async def action_regenerate(self) -> None:
        """Ask again for the last reply (the old one is deleted)."""
        if self.busy or self.conv is None or self.panes is not None or not self.conversation.rows:
            return
        rm = await self._resolve()
        if rm is None:
            return
        dropped = self.session.drop_last_reply()
        if dropped is not None:
            await self.conversation.remove_message(dropped)
        self.reply_worker = self.run_worker(self.reply(rm), group="reply")

    async def action_edit_last(self) -> None:
        """Take the last prompt (and its reply) back into the editor to change and resend."""
        if self.busy or self.conv is None or self.panes is not None:
            return
        taken = self.session.take_back_last()
        if taken is None:
            return
        text, ids = taken
        for mid in ids:
            await self.conversation.remove_message(mid)
        self.prompt.restore(text)
        self.prompt.focus()
        self.update_status()

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Any:
        """Palette commands: termchat's actions plus Textual's (themes, keys, quit)."""
        yield from super().get_system_commands(screen)
        yield from self.termchat_commands(screen)
        yield from self.voice_commands(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc cancels only while a reply streams; the app's keys stay out of dialogs' way."""
        if action == "cancel":
            return self.busy or self.voice_active
        return not (isinstance(self.screen, ModalScreen) and action not in ("quit", "command_palette"))
