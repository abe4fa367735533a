"""Moved to :mod:`devkit.import_graphs` (shared with bench/, issue 28); this name still imports."""

import sys

from devkit import import_graphs as _moved

sys.modules[__name__] = _moved
