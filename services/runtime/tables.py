"""Imports every service's table module so that ``db.metadata`` knows the whole schema.

Alembic's autogenerate/check and the tests' schema comparisons use this; services themselves only
import their own ``store`` module.
"""

from __future__ import annotations

import importlib

TABLE_MODULES = [
    "sigstack.services.tlog.store",
    "sigstack.services.rekor.store",
    "sigstack.services.oidc.store",
    "sigstack.services.witness.store",
]


def load_all_tables() -> None:
    for name in TABLE_MODULES:
        importlib.import_module(name)
