"""termchat's provider core.

The only package that talks to LiteLLM (lazily, in :mod:`termchat.core.engine`). Fronts import the
request/event types from :mod:`termchat.core.types` and the errors from
:mod:`termchat.core.errors`; importing this package imports neither LiteLLM nor any provider SDK.

The core imports nothing of termchat outside it (an import-linter contract): the settings it
reads come in as a :class:`termchat.core.settings.Settings`, and its files, logs and keys are its
own (:mod:`~termchat.core.paths`, :mod:`~termchat.core.logs`, :mod:`~termchat.core.keys`;
``termchat.paths`` and ``termchat.logs`` are the same modules under their old names).
"""
