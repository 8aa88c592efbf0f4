"""termchat's log file: the core's :mod:`termchat.core.logs` under its old name.

``termchat.logs`` *is* that module (the same object in ``sys.modules``), so its globals and
anything patched on it are shared; the core imports nothing above it."""

from __future__ import annotations

import sys

from .core import logs as _logs

sys.modules[__name__] = _logs
