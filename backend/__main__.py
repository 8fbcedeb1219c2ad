"""``python -m backend …``: the wizard's command line (see :mod:`backend.cli`)."""

from __future__ import annotations

import sys

from backend.cli import main

if __name__ == "__main__":
    sys.exit(main())
