"""Moved to :mod:`devkit.grimp_compare` (shared with bench/, issue 28); this name still imports."""

import sys

from devkit import grimp_compare as _moved

sys.modules[__name__] = _moved
