"""termchat: a terminal chat app and scriptable CLI for every major model provider."""

__version__ = "0.1.0"
