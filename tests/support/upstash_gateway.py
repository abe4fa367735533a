"""Moved to :mod:`devkit.upstash_gateway` (shared with bench/, issue 28); this name still imports."""

import sys

from devkit import upstash_gateway as _moved

sys.modules[__name__] = _moved
