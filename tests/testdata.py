"""Where the outside test material lives (../shared/testdata beside the checkout)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SIGSTACK_SHARED", ROOT.parent / "shared"))
TESTDATA = SHARED / "testdata"
VECTORS = TESTDATA / "vectors"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
