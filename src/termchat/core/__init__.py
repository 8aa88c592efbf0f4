"""termchat's provider core.

The only package that talks to LiteLLM (lazily, in :mod:`termchat.core.engine`). Fronts import the
request/event types from :mod:`termchat.core.types` and the errors from
:mod:`termchat.core.errors`; importing this package imports neither LiteLLM nor any provider SDK.
"""
