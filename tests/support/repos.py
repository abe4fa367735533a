"""Moved to :mod:`devkit.repos` (shared with bench/, issue 28); this name still imports."""

import sys

from devkit import repos as _moved

sys.modules[__name__] = _moved
