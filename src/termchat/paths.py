"""Where termchat keeps its files: the core's :mod:`termchat.core.paths` under its old name.

``termchat.paths`` *is* that module (the same object in ``sys.modules``), so the fronts and the
core see one set of directories; the core imports nothing above it."""

from __future__ import annotations

import sys

from .core import paths as _paths

sys.modules[__name__] = _paths
