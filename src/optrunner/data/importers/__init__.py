"""Importers: seed SQLite chain files, generic CSV/Parquet through a column mapping, NSE bhavcopies.

Each reads its files, reports bad rows per reason (never dropping one silently) and writes
the rest into a :class:`~optrunner.data.catalog.Catalog`, filling IV and greeks once there.
"""

from optrunner.data.importers.bhavcopy import import_bhavcopy
from optrunner.data.importers.common import DataImportError, ImportReport, expand_inputs
from optrunner.data.importers.seed_sqlite import import_seed_sqlite
from optrunner.data.importers.tabular import (
    BUILTIN_MAPPINGS,
    TabularMapping,
    import_tabular,
    load_mapping,
)

__all__ = [
    "BUILTIN_MAPPINGS",
    "DataImportError",
    "ImportReport",
    "TabularMapping",
    "expand_inputs",
    "import_bhavcopy",
    "import_seed_sqlite",
    "import_tabular",
    "load_mapping",
]
