"""Where the hub's contracts and working files live.

Contracts (`schemas/`, `expectations/`) sit in the repository; working files (the SQLite
store, keys for the demo, simulator recordings) go under `var/`, or `CASEHUB_HOME` when set.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = ROOT / "schemas"
EXPECTATIONS_DIR = ROOT / "expectations"


def var_dir() -> Path:
    """The working directory for state, created on first use."""
    path = Path(os.environ.get("CASEHUB_HOME", ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_docs_dir() -> Path:
    """Where `quality_daily`'s checkpoints build the Great Expectations Data Docs site
    (`index.html` at its root), served in the Airflow UI behind Airflow's login."""
    return var_dir() / "quality" / "data_docs"


def reports_dir() -> Path:
    """Where `report_monthly` and `report_weekly` write the efficiency reports (效能通报):
    `<kind>/<period>/<scope>.html|csv|pdf|json`, served in the Airflow UI behind its login."""
    return var_dir() / "reports"
