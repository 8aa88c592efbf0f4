"""``termchat chat``: the Textual app (see :mod:`termchat.tui.app`).

Nothing here imports LiteLLM: the app talks to the provider only through
:func:`termchat.core.engine.stream_chat`, from async workers, after the first frame is painted.
"""
