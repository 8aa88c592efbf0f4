"""termchat's log file: ``paths.log_dir()/termchat.log`` (directory 0700, file 0600).

Everything that is not for the user's eyes — LiteLLM's and httpx's log lines, tracebacks of
internal errors — goes there, never to the terminal, and always through :class:`RedactFilter`
so that no key is ever written.
"""

from __future__ import annotations

import logging

from .errors import redact

_handler: logging.Handler | None = None


class RedactFilter(logging.Filter):
    """Removes keys from every log record before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = redact(record.getMessage())
            record.args = None
        except Exception:
            record.msg, record.args = "<unprintable log record>", None
        return True


class PrivateFileHandler(logging.FileHandler):
    """A ``FileHandler`` whose file is created 0600, or tightened to 0600 when it exists with a
    looser mode (:func:`termchat.core.paths.private_opener`)."""

    def _open(self):  # type: ignore[no-untyped-def]
        from .paths import private_opener

        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                    opener=private_opener)


def _file_handler() -> logging.Handler:
    global _handler
    if _handler is None:
        from . import paths

        handler: logging.Handler
        try:
            paths.make_private_dir(paths.log_dir())
            handler = PrivateFileHandler(paths.log_dir() / "termchat.log", encoding="utf-8", delay=True)
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
        handler.addFilter(RedactFilter())
        _handler = handler
    return _handler


def get_logger() -> logging.Logger:
    """The ``termchat`` logger, writing to the log file only."""
    lg = logging.getLogger("termchat")
    if _file_handler() not in lg.handlers:
        lg.handlers = [_file_handler()]
        lg.propagate = False
        lg.setLevel(logging.INFO)
    return lg


def route_loggers(names: tuple[str, ...], level: int = logging.WARNING) -> None:
    """Send the named third-party loggers to the log file only, at ``level`` and above."""
    get_logger()
    for name in names:
        lg = logging.getLogger(name)
        lg.handlers = [_file_handler()]
        lg.propagate = False
        lg.setLevel(level)
