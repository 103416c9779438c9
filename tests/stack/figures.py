"""What the stack tests measured and saw, printed at the end of the run (`conftest.py`)."""

from __future__ import annotations

from typing import Any

FIGURES: dict[str, Any] = {}
