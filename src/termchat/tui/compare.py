"""Comparing models in the chat app: the next message goes to 2–4 models whose answers stream
side by side in :class:`~termchat.tui.widgets.panes.ComparePanes`; one is kept, or all are
discarded (:class:`CompareMixin`, part of :class:`termchat.tui.app.ChatApp`). The round itself
— the question, the requests, the outcomes, what is stored — is the session's
(:meth:`termchat.tui.session.ChatSession.start_compare` and what follows it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import TermchatError
from . import turns
from .widgets.prompt import AttachmentBar

if TYPE_CHECKING:
    from textual.worker import Worker

    from .widgets.panes import ComparePanes


class CompareMixin:
    """Comparison panes of :class:`~termchat.tui.app.ChatApp` (which provides ``session``,
    ``conversation``, ``prompt``, ``busy``, ``update_status``, ``notify``, ``run_worker``)."""

    session: Any
    panes: ComparePanes | None
    _pane_workers: list[Worker]

    def action_compare(self: Any) -> None:
        """Choose 2–4 models that the next message is sent to, side by side."""
        model = self.session.model
        current = ", ".join(self.session.compare_models or ([model] if model else []))

        def done(value: str | None) -> None:
            if value is None:
                return
            try:
                ids = self.session.set_compare(value)
            except TermchatError as err:
                self.notify(turns.error_text(err), severity="error", timeout=8)
                return
            if ids:
                self.notify("the next message goes to: " + ", ".join(ids))
            self.update_status()

        from .screens.dialogs import TextInputScreen

        self.push_screen(TextInputScreen("Compare models (2–4 names, empty turns it off)",
                                         current, "claude gpt local"), done)

    async def send_compare(self: Any, text: str, attachments: list[Any]) -> None:
        """Send ``text`` to every model of the session's ``compare_models``, in panes."""
        try:
            rnd = self.session.start_compare(text, attachments)
        except TermchatError as err:
            await self.conversation.add_notice(turns.error_text(err))
            return
        await self.show_question(rnd.user_id)
        from .widgets.panes import ComparePanes

        self.panes = ComparePanes([rm.id for rm in rnd.models], id="panes")
        self.conversation.display = False
        await self.query_one("#main").mount(self.panes, before=self.query_one(AttachmentBar))
        self.panes.focus()
        self._pane_workers = [self.run_worker(self._pane_reply(i), group="panes")
                              for i in range(len(rnd.models))]

    async def _pane_reply(self: Any, index: int) -> None:
        assert self.panes is not None
        view = self.panes.panes[index].view
        view.set_status("waiting for the model…")
        view.start_stream()
        outcome = None
        try:
            outcome = await self.session.compare_reply(index, view)
        finally:
            if outcome is None and self.session.round is not None:
                outcome = self.session.round.outcomes[index]
            try:
                if outcome is not None:
                    await view.finish(outcome.text, turns.header_for(outcome),
                                      outcome.interrupted or outcome.error is not None)
                    if outcome.error is not None:
                        view.set_status(turns.error_text(outcome.error))
            except Exception:
                pass

    async def on_compare_panes_keep(self: Any, event: ComparePanes.Keep) -> None:
        if self.busy:
            self.notify("wait for the answers to finish, or Esc to stop them", severity="warning")
            return
        try:
            mid = self.session.keep(event.index)
        except TermchatError as err:
            self.notify(err.message, severity="warning")
            return
        await self._close_panes()
        if mid is not None:
            await self.conversation.append_row(self.store.get_message(mid))
        self.update_status()

    async def on_compare_panes_discard(self: Any, event: ComparePanes.Discard) -> None:
        self.action_cancel()
        question = self.session.discard()
        if question is not None:
            mid, text = question
            await self.conversation.remove_message(mid)
            self.prompt.restore(text)
        await self._close_panes()
        self.update_status()

    async def _close_panes(self: Any) -> None:
        if self.panes is not None:
            await self.panes.remove()
        self.panes = None
        self._pane_workers = []
        self.conversation.display = True
        self.conversation.anchor()
        self.prompt.focus()
