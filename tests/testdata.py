"""Where the outside test material lives: ``tests/data`` in this repository.

The files were copied from upstream projects with their licences (``tests/data/README.md`` and
``tests/data/licenses/LICENSES.md`` say what came from where); tests never read outside the
repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "tests" / "data"
VECTORS = TESTDATA / "vectors"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
