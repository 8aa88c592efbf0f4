"""The one layer both fronts use to reach the core: ``termchat ask|image|speak`` and
``termchat chat`` send every request through a :class:`Core`.

* :class:`CoreClient` — what a core offers a front: ``chat`` (a blocking :class:`EventStream`
  of typed events with ``cancel()``), ``image`` and ``speech`` (one result each), and
  ``live_models`` (the local servers' models).
* Two implementations: :class:`~termchat.client.warm_core.WarmCore` (the warm core process over
  its Unix socket; plain sockets, no asyncio) and
  :class:`~termchat.client.local.LocalCore` (the engine in this process, on its own asyncio
  loop thread; events handed over a queue).
* :class:`Core` — the policy, in one place: the warm core when it is enabled and answers
  (waiting for one that is starting), else this process — and then a warm core is started for
  next time. ``TERMCHAT_NO_WARM``, ``--no-warm`` and config ``warm_core.enabled`` turn the
  warm core off.

Light on purpose: importing this package imports neither asyncio nor LiteLLM (a warm ``ask``
answers in about 0.2 s); the in-process implementation is imported when it is first needed.
"""

from __future__ import annotations

from .base import CoreClient, EventStream
from .policy import Core

__all__ = ["Core", "CoreClient", "EventStream"]
