"""The workspace catalog: datasets, versions and tags, on SQLite (embedded) or PostgreSQL.

::

    catalog = Catalog.open_sqlite(home / "catalog.db")
    row, created = catalog.add_version("credit-german", NewVersion(...))
    catalog.version("credit-german")          # the newest version not shredded

Rows are frozen records; the store (:mod:`mlwarden.store`) turns them into the public
:class:`~mlwarden.store.DatasetVersion`.
"""

from mlwarden.catalog._catalog import Catalog, DatasetRow, NewVersion, VersionRow
from mlwarden.catalog._tables import CATALOG_VERSION

__all__ = ["CATALOG_VERSION", "Catalog", "DatasetRow", "NewVersion", "VersionRow"]
