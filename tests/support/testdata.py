"""Where the repository and the outside test material live: ``ROOT`` and ``tests/data``.

The files were copied from upstream projects with their licences (``tests/data/README.md`` and
``tests/data/licenses/LICENSES.md`` say what came from where); tests never read outside the
repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "tests" / "data"
VECTORS = TESTDATA / "vectors"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
