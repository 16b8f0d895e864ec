"""``python -m host.cli``: the ``sscard`` console script without installing it."""
from __future__ import annotations

import sys

from host.cli import main

sys.exit(main())
