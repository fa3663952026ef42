"""The catalog's tables, in portable SQLAlchemy Core.

Nothing here is specific to SQLite: types are the portable ones (``Integer``, ``BigInteger``,
``String`` with lengths, ``Text``), times are ISO 8601 UTC strings (``2026-11-25T18:00:00Z``,
which sort as text), and constraints are plain unique/foreign keys, so the same schema runs on
PostgreSQL. A test compiles it for both dialects.

Bumping :data:`CATALOG_VERSION`: add the migration to ``_catalog.py`` (read the old version from
``mlwarden_meta``, alter, write the new one, in one transaction) and a golden catalog to the tests.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "CATALOG_VERSION",
    "data_audits",
    "dataset_versions",
    "datasets",
    "drift_windows",
    "erasures",
    "meta",
    "metadata",
    "model_approvals",
    "model_versions",
    "monitor_reports",
    "pii_columns",
    "pii_decisions",
    "version_tags",
]

CATALOG_VERSION = 5
"""2 added ``model_versions`` (the model registry), 3 ``data_audits`` (the training-data audits), 4
``model_approvals`` (four-eyes approvals), ``drift_windows`` (the server's live profiles) and
``monitor_reports`` (stored drift and performance reports), 5 ``pii_columns`` (the personal-data class
of each column of each version), ``pii_decisions`` (a steward's corrections and allowances) and
``erasures`` (requests to forget a person); an older catalog gains the tables it lacks on open."""
NAME_LENGTH = 128
TAG_KEY_LENGTH = 128
TAG_VALUE_LENGTH = 1024
PRINCIPAL_LENGTH = 256
COLUMN_LENGTH = 256
TIME_LENGTH = 32

metadata = MetaData()

meta = Table(
    "mlwarden_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("created_at", String(TIME_LENGTH), nullable=False),
    Column("created_by", String(PRINCIPAL_LENGTH), nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    # The store object holding the ciphertext (hex object id); also the data key's id.
    Column("object_id", String(32), nullable=False, unique=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=True),
    Column("format", String(16), nullable=False),
    # TabularSchema.to_json(), as JSON text.
    Column("schema_json", Text, nullable=False),
    # The key-encryption key version that wrapped the data key when the version was made.
    Column("key_version", Integer, nullable=False),
    Column("created_at", String(TIME_LENGTH), nullable=False),
    Column("created_by", String(PRINCIPAL_LENGTH), nullable=False),
    Column("shredded_at", String(TIME_LENGTH), nullable=True),
    Column("shredded_by", String(PRINCIPAL_LENGTH), nullable=True),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),
)
Index("ix_dataset_versions_sha256", dataset_versions.c.sha256)

version_tags = Table(
    "version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("key", String(TAG_KEY_LENGTH), primary_key=True),
    Column("value", String(TAG_VALUE_LENGTH), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    # The store object holding the encrypted model file (hex object id; also its data key's id).
    Column("object_id", String(32), nullable=False, unique=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("format", String(16), nullable=False),
    # The Sigstore bundle (OpenSSF model-signing format) signing the file with its provenance.
    Column("signature", Text, nullable=False),
    Column("signing_key", String(64), nullable=False),
    Column("provenance_json", Text, nullable=False),
    Column("input_schema_json", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("created_at", String(TIME_LENGTH), nullable=False),
    Column("created_by", String(PRINCIPAL_LENGTH), nullable=False),
    Column("stage_changed_at", String(TIME_LENGTH), nullable=True),
    Column("stage_changed_by", String(PRINCIPAL_LENGTH), nullable=True),
    UniqueConstraint("name", "version", name="uq_model_version"),
)
Index("ix_model_versions_sha256", model_versions.c.sha256)

data_audits = Table(
    "data_audits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The audited version, by name and number, and the SHA-256 of its content when audited.
    Column("dataset", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("dataset_sha256", String(64), nullable=False),
    Column("target", String(COLUMN_LENGTH), nullable=False),
    # DataAuditSettings.to_json() as canonical JSON, and its SHA-256 (part of the key).
    Column("settings_json", Text, nullable=False),
    Column("settings_sha256", String(64), nullable=False),
    # The report (rows, reasons, patterns): encrypted in the reports store under this object id.
    Column("object_id", String(32), nullable=False, unique=True),
    Column("report_sha256", String(64), nullable=False),
    # Counts only (flagged rows, patterns, duplicates, estimated label-error share): no data values.
    Column("summary_json", Text, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("created_at", String(TIME_LENGTH), nullable=False),
    Column("created_by", String(PRINCIPAL_LENGTH), nullable=False),
    Column("accepted_at", String(TIME_LENGTH), nullable=True),
    Column("accepted_by", String(PRINCIPAL_LENGTH), nullable=True),
    Column("accepted_reason", String(TAG_VALUE_LENGTH), nullable=True),
    UniqueConstraint("dataset", "version", "target", "settings_sha256", name="uq_data_audit"),
)

model_approvals = Table(
    "model_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The approved version, by name and number, and the SHA-256 of the model file approved.
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("approved_by", String(PRINCIPAL_LENGTH), nullable=False),
    Column("approved_at", String(TIME_LENGTH), nullable=False),
    Column("note", String(TAG_VALUE_LENGTH), nullable=True),
    UniqueConstraint("name", "version", "approved_by", name="uq_model_approval"),
)

drift_windows = Table(
    "drift_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The served model version whose inputs and outputs the window summarises.
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    # The reference profile's SHA-256 (from the signed provenance) the counts are binned against.
    Column("profile_sha256", String(64), nullable=False),
    Column("started_at", String(TIME_LENGTH), nullable=False),
    Column("ended_at", String(TIME_LENGTH), nullable=False),
    Column("rows", BigInteger, nullable=False),
    # The window's counts (no rows): encrypted in the store under this object id.
    Column("object_id", String(32), nullable=False, unique=True),
    Column("sha256", String(64), nullable=False),
    Column("created_by", String(PRINCIPAL_LENGTH), nullable=False),
)
Index("ix_drift_windows_model", drift_windows.c.model, drift_windows.c.version, drift_windows.c.ended_at)

monitor_reports = Table(
    "monitor_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "drift" or "performance"; the model version (empty for a dataset-to-dataset comparison).
    Column("kind", String(16), nullable=False),
    Column("model", String(NAME_LENGTH), nullable=True),
    Column("version", Integer, nullable=True),
    # What was compared: e.g. "model:credit@3" or "dataset:loans@1", and "dataset:loans@2" or "live:<since>".
    Column("reference", String(TAG_VALUE_LENGTH), nullable=False),
    Column("current", String(TAG_VALUE_LENGTH), nullable=False),
    # The report (per-column tests and effects): encrypted in the store under this object id.
    Column("object_id", String(32), nullable=False, unique=True),
    Column("report_sha256", String(64), nullable=False),
    # Counts only (columns tested, drifted, worst severity): no data values.
    Column("summary_json", Text, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("created_at", String(TIME_LENGTH), nullable=False),
    Column("created_by", String(PRINCIPAL_LENGTH), nullable=False),
)

pii_columns = Table(
    "pii_columns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One column of one dataset version, by name and number.
    Column("dataset", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("column_name", String(COLUMN_LENGTH), nullable=False),
    # The personal-data kind found ("email", "age"...; null: none), "direct" or "quasi", and how sure (0-1000).
    Column("kind", String(32), nullable=True),
    Column("category", String(16), nullable=True),
    Column("confidence_milli", Integer, nullable=False),
    # "detected" (from the column's name and a sample of its values) or "pseudonymised" (tokens written
    # by `data pseudonymise`, which hold no original value). The evidence is counts, never values.
    Column("source", String(16), nullable=False),
    Column("evidence", String(TAG_VALUE_LENGTH), nullable=False),
    Column("embedded", String(TAG_VALUE_LENGTH), nullable=False),
    Column("detected_at", String(TIME_LENGTH), nullable=False),
    UniqueConstraint("dataset", "version", "column_name", name="uq_pii_column"),
)

pii_decisions = Table(
    "pii_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # A steward's decision on one column of a dataset, for all its versions: "class" (the column's kind
    # is ``kind``, null: not personal data) or "feature" (a direct identifier may be trained on).
    Column("dataset", String(NAME_LENGTH), nullable=False),
    Column("column_name", String(COLUMN_LENGTH), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("kind", String(32), nullable=True),
    Column("reason", String(TAG_VALUE_LENGTH), nullable=False),
    Column("decided_by", String(PRINCIPAL_LENGTH), nullable=False),
    Column("decided_at", String(TIME_LENGTH), nullable=False),
    UniqueConstraint("dataset", "column_name", "decision", name="uq_pii_decision"),
)

erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The keyed hash (HMAC-SHA256 under a workspace key) of the subject: never the value itself.
    Column("subject", String(64), nullable=False),
    # The columns the subject was named by (names only), and the dataset the request was limited to.
    Column("columns", String(TAG_VALUE_LENGTH), nullable=False),
    Column("dataset", String(NAME_LENGTH), nullable=True),
    Column("started_at", String(TIME_LENGTH), nullable=False),
    Column("started_by", String(PRINCIPAL_LENGTH), nullable=False),
    # Null while the request runs (a re-run after a crash resumes it); counts only once done.
    Column("finished_at", String(TIME_LENGTH), nullable=True),
    Column("summary_json", Text, nullable=True),
)
Index("ix_erasures_subject", erasures.c.subject)
