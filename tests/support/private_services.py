"""Moved to :mod:`devkit.private_services` (shared with bench/, issue 28); this name still imports."""

import sys

from devkit import private_services as _moved

sys.modules[__name__] = _moved
