"""The workspace catalog: datasets, versions and tags, on SQLite (embedded) or PostgreSQL.

::

    catalog = Catalog.open_sqlite(home / "catalog.db")
    row, created = catalog.add_version("credit-german", NewVersion(...))
    catalog.version("credit-german")          # the newest version not shredded

A workspace opens its catalog with a :class:`CatalogWitness`: its record, in ``access.db``, of
the catalog's identity and of how many versions it must hold, so that a catalog deleted, emptied,
replaced or rolled back is refused instead of recreated (see ``_trust.py``).

Rows are frozen records; the store (:mod:`mlwarden.store`) turns them into the public
:class:`~mlwarden.store.DatasetVersion`.
"""

from mlwarden.catalog._audits import AuditKey, AuditRow, NewAudit
from mlwarden.catalog._catalog import Catalog, DatasetRow, NewVersion, VersionRow
from mlwarden.catalog._tables import CATALOG_VERSION
from mlwarden.catalog._trust import CatalogCounts, CatalogMark, CatalogWitness, Evidence, evidence_of

__all__ = [
    "CATALOG_VERSION",
    "AuditKey",
    "AuditRow",
    "Catalog",
    "CatalogCounts",
    "CatalogMark",
    "CatalogWitness",
    "DatasetRow",
    "Evidence",
    "NewAudit",
    "NewVersion",
    "VersionRow",
    "evidence_of",
]
