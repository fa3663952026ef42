"""``ws.privacy``: personal data in datasets. Discovery, the guard before training, pseudonymisation,
re-identification and erasure of one person everywhere.

* **Discovery.** Every new tabular version is classified column by column as it is put (the store's
  after-put hook: a reservoir sample of its rows, streamed, no second gated read) by
  :class:`mlwarden.privacy.PiiDetector`; the classes land in the catalog (``pii_columns``) with a
  confidence and one line of evidence made of counts. A steward corrects a column's class for all
  versions of a dataset (``dataset.classify``, audited).
* **Guard.** A training run refuses direct identifiers among its features unless a steward allowed
  the column (:class:`~mlwarden.errors.PersonalDataFindings`, exit 1); the quasi-identifiers it
  trains on go into the signed provenance and the model card.
* **Pseudonymisation.** A new version with keyed tokens in place of the values of the columns named
  (HMAC-SHA256, or AES-SIV when reversible, under the workspace's pseudonymisation key) and
  generalised quasi-identifiers, with the resulting k-anonymity. Equal values give equal tokens,
  so joins across datasets pseudonymised under the same key still work.
* **Erasure.** ``forget`` finds a person's rows in every live version of every dataset holding the
  subject's column, in clear or as their token under any pseudonymisation key, writes successor
  versions without them and crypto-shreds the versions that held them; the models trained on a
  shredded version then show that they need retraining. The subject is recorded (log, catalog,
  tags) only as an HMAC-SHA256 under a workspace key, never as a value. A run stopped at any point
  (SIGKILL included) is completed by running it again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlwarden._clock import Clock, timestamp
from mlwarden.access import Gate
from mlwarden.errors import BadInput, NotFound, PersonalDataFindings

if TYPE_CHECKING:
    import pandas

    from mlwarden.catalog._privacy import ColumnClassRow, ErasureRow, PrivacyCatalog
    from mlwarden.crypto._pseudonym_keys import PseudonymKeys
    from mlwarden.models._registry import ModelRegistry
    from mlwarden.privacy._pseudonymise import Generalisation
    from mlwarden.store import Datasets, DatasetVersion, EraseResult

__all__ = ["ColumnClass", "Erasure", "PrivacyService", "Pseudonymisation"]

SAMPLE_ROWS = 1000
"""Rows sampled (a reservoir over the rows scanned) to classify a version's columns."""
SCAN_ROWS = 100_000
"""Rows scanned at most for that sample (the first ones, in chunks): a put of a large file must not
cost a second full pass nor memory that grows with it."""
_MAX_REASON = 1000
_NOT_PERSONAL = "none"


@dataclasses.dataclass(frozen=True)
class ColumnClass:
    """The personal-data class of one column of a dataset version, as it stands: found from its
    name and values (``source`` ``detected``), set by a steward (``steward``), or written as
    tokens by ``data pseudonymise`` (``pseudonymised``)."""

    column: str
    kind: str | None
    category: str | None
    confidence: float
    source: str
    evidence: str
    embedded: tuple[str, ...] = ()
    decided_by: str | None = None
    allowed_as_feature: bool = False

    @property
    def direct(self) -> bool:
        """A direct identifier in clear (tokens are not)."""
        return self.category == "direct" and self.source != "pseudonymised"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "confidence": self.confidence,
            "category": self.category,
            "source": self.source,
            "evidence": self.evidence,
            "embedded": list(self.embedded),
            "decided_by": self.decided_by,
            "allowed_as_feature": self.allowed_as_feature,
        }


@dataclasses.dataclass(frozen=True)
class Pseudonymisation:
    """What ``pseudonymise`` wrote: the new version, its tokenised and generalised columns, and
    the k-anonymity over the quasi-identifiers it holds."""

    source: DatasetVersion
    version: DatasetVersion
    created: bool
    tokenised: tuple[str, ...]
    generalised: tuple[str, ...]
    reversible: bool
    key: int
    quasi_identifiers: tuple[str, ...]
    k_anonymity: int | None
    rows_below: Mapping[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.ref,
            "version": self.version.ref,
            "created": self.created,
            "tokenised": list(self.tokenised),
            "generalised": list(self.generalised),
            "reversible": self.reversible,
            "pseudonym_key": self.key,
            "quasi_identifiers": list(self.quasi_identifiers),
            "k_anonymity": self.k_anonymity,
            "rows_in_classes_below": {str(k): v for k, v in self.rows_below.items()},
        }


@dataclasses.dataclass(frozen=True)
class ErasedVersion:
    """One version that held the subject: how many rows, its successor, whether it is shredded."""

    ref: str
    matched: int
    successor: str | None
    shredded: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Erasure:
    """The outcome of ``forget``: the subject's keyed hash, the versions that held it, the models
    trained on them (now needing retraining), and what could not be searched."""

    subject: str
    dry_run: bool
    versions: tuple[ErasedVersion, ...]
    models: tuple[str, ...]
    searched: int
    unsearchable: tuple[str, ...]
    erasure_id: int | None

    @property
    def rows(self) -> int:
        return sum(max(v.matched, 0) for v in self.versions)

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "dry_run": self.dry_run,
            "erasure": self.erasure_id,
            "searched_versions": self.searched,
            "rows": self.rows,
            "versions": [v.to_json() for v in self.versions],
            "models_to_retrain": list(self.models),
            "unsearchable": list(self.unsearchable),
        }


class PrivacyService:
    """Personal data in the workspace's datasets. Get it from :attr:`mlwarden.Workspace.privacy`."""

    def __init__(
        self,
        *,
        gate: Gate,
        rows: Callable[[], PrivacyCatalog],
        datasets: Callable[[], Datasets],
        models: Callable[[], ModelRegistry],
        pseudonym_keys: PseudonymKeys,
        subject_key: bytes,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._rows = rows
        self._datasets = datasets
        self._models = models
        self._keys = pseudonym_keys
        self._subject_key = subject_key
        self._clock = clock

    def __repr__(self) -> str:
        return "<PrivacyService>"

    # -- discovery --------------------------------------------------------------------------

    def _after_put(self, version: DatasetVersion, frames: Callable[[], Iterator[pandas.DataFrame]]) -> dict[str, Any]:
        """The store's after-put hook: classify a new version's columns (inside the put's action)."""
        found = self._classify(version, frames())
        kinds = sorted({r.kind for r in found if r.kind is not None})
        return {"pii_columns": sum(r.kind is not None for r in found), "pii_kinds": ",".join(kinds)}

    def _classify(self, version: DatasetVersion, frames: Iterator[pandas.DataFrame]) -> list[ColumnClassRow]:
        from mlwarden.catalog._privacy import ColumnClassRow
        from mlwarden.privacy._detect import ColumnSampler, PiiDetector

        sampler = ColumnSampler(SAMPLE_ROWS, random_state=_seed(version.sha256))
        for chunk in frames:
            if sampler.rows_seen >= SCAN_ROWS:
                break
            sampler.add(chunk)
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # the rest of the stream is not read
        findings = PiiDetector(sample_size=SAMPLE_ROWS).detect(sampler.frame())
        now = timestamp(self._clock())
        rows = [
            ColumnClassRow(
                dataset=version.name,
                version=version.version,
                column=f.column,
                kind=f.kind,
                category=f.category,
                confidence=f.confidence,
                source="detected",
                evidence=f.evidence,
                embedded=f.embedded,
                detected_at=now,
            )
            for f in findings.values()
        ]
        self._rows().set_classes(version.name, version.version, rows)
        return rows

    def discover(self, name: str, version: int | None = None) -> dict[str, ColumnClass]:
        """Classify a version's columns again, from a fresh sample (``dataset.read``: it reads the data)."""
        info, frames = self._datasets().read_frames(name, version)  # the gated, recorded read
        self._classify(info, frames)
        return self._effective(info)

    def columns(self, name: str, version: int | None = None) -> dict[str, ColumnClass]:
        """The class of each column of a version (``dataset.list``: no data is read). Empty when the
        version was never classified (stored before discovery existed, or not tabular)."""
        info = self._datasets().info(name, version)
        return self._effective(info)

    def _effective(self, info: DatasetVersion) -> dict[str, ColumnClass]:
        from mlwarden.privacy._detect import PII_KINDS

        rows = self._rows()
        decisions = {(d.column, d.decision): d for d in rows.decisions(info.name)}
        out: dict[str, ColumnClass] = {}
        for r in rows.classes(info.name, info.version):
            allowed = (r.column, "feature") in decisions
            corrected = decisions.get((r.column, "class"))
            if corrected is not None and r.source != "pseudonymised":
                kind = corrected.kind
                out[r.column] = ColumnClass(
                    r.column,
                    kind,
                    None if kind is None else PII_KINDS[kind],
                    1.0,
                    "steward",
                    f"set by {corrected.decided_by} at {corrected.decided_at}: {corrected.reason}"[:1024],
                    (),
                    corrected.decided_by,
                    allowed,
                )
            else:
                out[r.column] = ColumnClass(
                    r.column, r.kind, r.category, r.confidence, r.source, r.evidence, r.embedded, None, allowed
                )
        return out

    def set_class(self, name: str, column: str, kind: str | None, *, reason: str) -> ColumnClass:
        """A steward's correction of a column's class, for every version of ``name`` (``dataset.classify``).
        ``kind`` ``None`` (or ``"none"``) says the column holds no personal data."""
        from mlwarden.catalog._privacy import DecisionRow
        from mlwarden.privacy._detect import PII_KINDS

        kind = None if kind in (None, _NOT_PERSONAL) else kind
        if kind is not None and kind not in PII_KINDS:
            raise BadInput(f"unknown personal-data kind {kind!r}: use one of {', '.join(PII_KINDS)} or none")
        reason = _reason(reason)
        with self._gate.act("dataset.classify", f"dataset:{name}", column=column[:128], kind=kind or "none") as act:
            info = self._datasets().info(name)
            self._known_column(info, column)
            row = DecisionRow(name, column, "class", kind, reason, self._gate.principal.name, self._now())
            self._rows().decide(row)
            act.record(version=info.version)
        return self._effective(info).get(column) or ColumnClass(
            column, kind, None if kind is None else PII_KINDS[kind], 1.0, "steward", reason, (), row.decided_by
        )

    def allow_feature(self, name: str, column: str, *, reason: str, allow: bool = True) -> None:
        """Let a direct identifier of ``name`` be trained on (or take that back) (``dataset.classify``)."""
        from mlwarden.catalog._privacy import DecisionRow

        reason = _reason(reason) if allow else (reason or "withdrawn")[:_MAX_REASON]
        with self._gate.act("dataset.classify", f"dataset:{name}", column=column[:128], feature=allow) as act:
            info = self._datasets().info(name)
            self._known_column(info, column)
            if allow:
                self._rows().decide(
                    DecisionRow(name, column, "feature", None, reason, self._gate.principal.name, self._now())
                )
                act.record(allowed=True)
            else:
                act.record(withdrawn=self._rows().withdraw(name, column, "feature"))

    @staticmethod
    def _known_column(info: DatasetVersion, column: str) -> None:
        names = [c.name for c in info.schema.columns or ()]
        if column not in names:
            shown = ", ".join(names[:12]) or "none"
            raise NotFound(f"{info.ref} has no column {column!r}; its columns are {shown}")

    # -- the guard before training ----------------------------------------------------------

    def check_training(self, dataset: str, version: int, target: str) -> dict[str, Any]:
        """Refuse direct identifiers among the features of a training run unless a steward allowed
        them; the record of what was checked (signed into the model's provenance)."""
        info = self._datasets().info(dataset, version)
        classes = self._effective(info)
        if not classes and info.schema.columns:
            classes = self.discover(dataset, info.version)
        features = {c: k for c, k in classes.items() if c != target}
        refused = sorted(c for c, k in features.items() if k.direct and not k.allowed_as_feature)
        if refused:
            shown = ", ".join(f"{c} ({features[c].kind})" for c in refused[:8])
            raise PersonalDataFindings(
                f"{info.ref} holds direct identifiers among the features: {shown}; pseudonymise them "
                f"(`mlwarden data pseudonymise {info.ref} --columns {','.join(refused)}`) or have a steward "
                f"allow them (`mlwarden data pii {info.name} --allow COLUMN --reason TEXT`)"
            )
        return {
            "dataset": info.ref,
            "classified": bool(classes),
            "direct_allowed": sorted(c for c, k in features.items() if k.direct),
            "quasi_identifiers": [{"column": c, "kind": k.kind} for c, k in features.items() if k.category == "quasi"],
            "pseudonymised": sorted(c for c, k in features.items() if k.source == "pseudonymised"),
        }

    # -- pseudonymisation -------------------------------------------------------------------

    def pseudonymise(
        self,
        name: str,
        version: int | None = None,
        *,
        columns: Sequence[str],
        generalise: str | Sequence[Generalisation] = (),
        new_name: str | None = None,
        reversible: bool = False,
    ) -> Pseudonymisation:
        """Write a version with keyed tokens for ``columns`` and generalised quasi-identifiers
        (``"age=10,postcode=3"``) as the next version of ``new_name`` (default: ``name``)."""
        from mlwarden.catalog._privacy import ColumnClassRow
        from mlwarden.privacy._pseudonymise import parse_generalise, pseudonymise_frame
        from mlwarden.store import check_name

        target = check_name(new_name or name)
        rules: tuple[Generalisation, ...]
        if isinstance(generalise, str):
            rules = parse_generalise(generalise) if generalise.strip() else ()
        else:
            rules = tuple(generalise)
        if not columns and not rules:
            raise BadInput("name the columns to pseudonymise (--columns A,B) or to generalise (--generalise age=10)")
        with self._gate.act("dataset.pseudonymise", f"dataset:{target}", source=name, reversible=reversible) as act:
            frame, source = self._datasets().read_frame_versioned(name, version)
            classes = self._effective(source)
            key = self._keys.active(by=self._gate.principal.name)
            generalised = {g.column for g in rules}
            quasi = [c for c, k in classes.items() if k.category == "quasi" or c in generalised]
            done = pseudonymise_frame(
                frame,
                columns=list(columns),
                key=key,
                reversible=reversible,
                kinds={c: k.kind for c, k in classes.items()},
                generalise=rules,
                quasi_identifiers=[c for c in quasi if c not in columns],
            )
            del frame
            tags = {
                "derived_from": source.ref,
                "pseudonymised_from": source.ref,
                "pseudonym_key": str(key.number),
                "tokenised": ",".join(done.tokenised)[:1024],
                "generalised": ",".join(f"{g.column}={g.level}" for g in rules)[:1024],
                "reversible": "yes" if reversible else "no",
                "k_anonymity": "-" if done.k_anonymity is None else str(done.k_anonymity),
            }
            result = self._datasets().put(done.frame, name=target, tags={k: v for k, v in tags.items() if v})
            made = result.version
            now = self._now()
            marked = [
                ColumnClassRow(
                    made.name,
                    made.version,
                    c,
                    classes[c].kind if c in classes else None,
                    "pseudonymised",
                    1.0,
                    "pseudonymised",
                    f"keyed {'reversible ' if reversible else ''}tokens of {source.ref} "
                    f"(pseudonymisation key {key.number})",
                    (),
                    now,
                )
                for c in done.tokenised
            ]
            self._rows().set_classes(made.name, made.version, marked)
            act.record(
                version=made.version,
                sha256=made.sha256,
                source_sha256=source.sha256,
                tokenised=len(done.tokenised),
                generalised=len(done.generalised),
                pseudonym_key=key.number,
                k_anonymity=-1 if done.k_anonymity is None else done.k_anonymity,
            )
        return Pseudonymisation(
            source,
            made,
            result.created,
            done.tokenised,
            done.generalised,
            reversible,
            key.number,
            done.quasi_identifiers,
            done.k_anonymity,
            done.classes_below,
        )

    def reidentify(self, tokens: Sequence[str], *, reason: str) -> list[str]:
        """The values behind reversible tokens (``dataset.reidentify``); each one is its own audited
        action, recorded by the token's SHA-256 (never the value)."""
        from mlwarden.crypto._pseudonym_keys import is_reversible, token_key_number

        reason = _reason(reason)
        values = []
        for token in tokens:
            digest = hashlib.sha256(token.encode()).hexdigest()[:32]
            with self._gate.act("dataset.reidentify", "dataset", token_sha256=digest, reason=reason[:200]) as act:
                number = token_key_number(token)
                if number is None or not is_reversible(token):
                    raise BadInput(
                        "not a reversible pseudonym (those start with pr<key>_); one-way tokens cannot be reversed"
                    )
                values.append(self._keys.key(number).open(token))
                act.record(pseudonym_key=number)
        return values

    # -- erasure ----------------------------------------------------------------------------

    def subject_hash(self, subjects: Sequence[tuple[str, str]]) -> str:
        """The keyed hash a subject is recorded under: HMAC-SHA256 over its canonical columns and values
        (``dataset.forget``: it lets its holder tell whether a value is the subject of an erasure)."""
        self._gate.check("dataset.forget", "dataset", what="subject-hash")
        return self._subject_hash(subjects)

    def _subject_hash(self, subjects: Sequence[tuple[str, str]]) -> str:
        from mlwarden.privacy._detect import canonical_value

        pairs = sorted((c, canonical_value(v, None) or "") for c, v in subjects)
        body = json.dumps(pairs, separators=(",", ":"), ensure_ascii=False).encode()
        return hmac.new(self._subject_key, body, hashlib.sha256).hexdigest()

    def forget(
        self,
        subjects: Sequence[tuple[str, str]],
        *,
        dataset: str | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> Erasure:
        """Erase a person: every live version (of ``dataset``, or of every dataset) with a column of
        ``subjects`` (``[(column, value)]``, any of them matching) is replaced by a successor without
        their rows, then crypto-shredded (``dataset.forget``). ``dry_run`` only reports.

        ``progress(done, total, ref)`` is called after each version searched."""
        if not subjects:
            raise BadInput("name the person to forget: --subject COLUMN=VALUE")
        for column, value in subjects:
            if not column or not str(value).strip():
                raise BadInput("a subject is COLUMN=VALUE with a column name and a value")
        subject = self._subject_hash(subjects)
        columns = sorted({c for c, _ in subjects})
        resource = f"dataset:{dataset}" if dataset else "dataset"
        with self._gate.act(
            "dataset.forget", resource, subject=subject[:32], columns=",".join(columns)[:256], dry_run=dry_run
        ) as act:
            rows = self._rows()
            erasure: ErasureRow | None = None
            if not dry_run:
                erasure = rows.start_erasure(subject, columns, dataset, by=self._gate.principal.name, at=self._now())
            candidates = self._candidates(columns, dataset)
            matcher = _Matcher(subjects, self._keys)
            done: list[ErasedVersion] = []
            unsearchable: list[str] = []
            for i, version in enumerate(candidates):
                held = [c for c in columns if c in {col.name for col in version.schema.columns or ()}]
                kinds = {c: k.kind for c, k in self._effective(version).items()}
                try:
                    result = self._datasets().erase(
                        version.name,
                        version.version,
                        functools.partial(matcher.mask, columns=held, kinds=kinds),
                        request=subject,
                        dry_run=dry_run,
                    )
                except BadInput:
                    unsearchable.append(version.ref)
                    result = None
                if result is not None and (result.matched != 0 or result.shredded):
                    done.append(_erased(result))
                if result is not None and result.successor is not None:
                    self._carry_classes(version.name, version.version, result.successor.version)
                if progress is not None:
                    progress(i + 1, len(candidates), version.ref)
            if not dry_run:
                done.extend(self._already_erased(subject, {v.ref for v in done}, dataset))
            shredded = {v.ref for v in done if v.shredded} if not dry_run else {v.ref for v in done}
            models = self._models_trained_on(shredded)
            outcome = Erasure(
                subject,
                dry_run,
                tuple(sorted(done, key=lambda v: v.ref)),
                tuple(models),
                len(candidates),
                tuple(unsearchable),
                None if erasure is None else erasure.id,
            )
            if erasure is not None:
                rows.finish_erasure(
                    erasure.id,
                    {
                        "versions": len(outcome.versions),
                        "rows": outcome.rows,
                        "models": len(outcome.models),
                        "unsearchable": len(unsearchable),
                    },
                    at=self._now(),
                )
            act.record(
                versions=len(outcome.versions),
                rows=outcome.rows,
                models=len(outcome.models),
                searched=len(candidates),
                unsearchable=len(unsearchable),
            )
        return outcome

    def _carry_classes(self, name: str, source: int, successor: int) -> None:
        """A successor holds the source's rows less some: it keeps the source's classes (its tokenised
        columns stay marked as such), not a fresh guess from tokens. Idempotent, so a re-run after a
        crash between the successor's put and this write repairs it."""
        rows = self._rows()
        carried = [dataclasses.replace(r, version=successor) for r in rows.classes(name, source)]
        if carried:
            rows.set_classes(name, successor, carried)

    def _candidates(self, columns: Sequence[str], dataset: str | None) -> list[DatasetVersion]:
        """Every live version (of ``dataset``, or of every dataset) with one of ``columns``, oldest first."""
        datasets = self._datasets()
        names = [dataset] if dataset else [d.name for d in datasets.list()]
        wanted = set(columns)
        found = []
        for name in names:
            for v in datasets.versions(name):
                if v.shredded or v.schema.columns is None:
                    continue
                if wanted & {c.name for c in v.schema.columns}:
                    found.append(v)
        return found

    def _already_erased(self, subject: str, seen: set[str], dataset: str | None) -> list[ErasedVersion]:
        """Versions a run stopped by a crash already shredded for this subject (their successors say so)."""
        datasets = self._datasets()
        names = [dataset] if dataset else [d.name for d in datasets.list()]
        out = []
        for name in names:
            for v in datasets.versions(name):
                replaced = v.tags.get("erasure.replaces")
                if v.tags.get("erasure.request") == subject[:64] and replaced and replaced not in seen:
                    excluded = int(v.tags.get("excluded_rows", "0") or 0)
                    out.append(ErasedVersion(replaced, excluded, v.ref, True))
                    _, _, number = replaced.rpartition("@")
                    self._carry_classes(name, int(number), v.version)
                    seen.add(replaced)
        return out

    def _models_trained_on(self, refs: set[str]) -> list[str]:
        if not refs:
            return []
        models = self._models()
        return sorted(m.ref for m in models.list() if any(ref in refs for ref in models.training_refs(m)))

    def erasures(self) -> list[ErasureRow]:
        """Every erasure request: the subject's keyed hash, who, when, the counts (``dataset.forget``)."""
        self._gate.check("dataset.forget", "dataset", what="erasures")
        return self._rows().erasures()

    def _now(self) -> str:
        return timestamp(self._clock())


class _Matcher:
    """Which rows of a frame hold a subject: the canonical value in clear, or any of its tokens."""

    def __init__(self, subjects: Sequence[tuple[str, str]], keys: PseudonymKeys) -> None:
        self._subjects = list(subjects)
        self._keys = keys.all()
        self._cache: dict[tuple[str, str | None], tuple[set[str], set[str]]] = {}

    def _forms(self, column: str, kind: str | None) -> tuple[set[str], set[str]]:
        """(canonical forms, tokens) of the subject's values for ``column`` read as ``kind``."""
        from mlwarden.privacy._detect import canonical_value

        cached = self._cache.get((column, kind))
        if cached is not None:
            return cached
        from mlwarden.privacy._detect import PII_KINDS

        canon: set[str] = set()
        tokenised: set[str] = set()
        for c, value in self._subjects:
            if c != column:
                continue
            for k in {kind, None}:
                text = canonical_value(value, k)
                if text is not None:
                    canon.add(text)
            # A token was made from the value's canonical text under the kind its column had then,
            # which need not be the class recorded now: try every kind's canonical form.
            for k in (None, *PII_KINDS):
                text = canonical_value(value, k)
                if text:
                    tokenised.add(text)
        tokens = {t for text in tokenised for key in self._keys for t in (key.token(text), key.seal(text))}
        self._cache[(column, kind)] = (canon, tokens)
        return canon, tokens

    def mask(self, frame: pandas.DataFrame, columns: Sequence[str], kinds: Mapping[str, str | None]) -> Any:
        import numpy as np

        from mlwarden.privacy._detect import canonical_value

        mask = np.zeros(len(frame), dtype=bool)
        for column in columns:
            if column not in frame.columns:
                continue
            kind = kinds.get(column)
            canon, tokens = self._forms(column, kind)
            values = frame[column]
            present = values.notna().to_numpy()
            raw = values.astype("string").str.strip()
            hit = raw.isin(tokens).fillna(False).to_numpy(dtype=bool, copy=True)
            as_canon = values.map(lambda v, kind=kind: canonical_value(v, kind))
            hit |= as_canon.isin(canon).to_numpy(dtype=bool)
            mask |= hit & present
        return mask


def _erased(result: EraseResult) -> ErasedVersion:
    return ErasedVersion(
        result.version.ref,
        result.matched,
        None if result.successor is None else result.successor.ref,
        result.shredded,
    )


def _seed(sha256: str) -> int:
    return int(sha256[:8], 16)


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise BadInput("give a reason (--reason TEXT): it is kept with the decision and in the audit log")
    if len(text) > _MAX_REASON or "\n" in text:
        raise BadInput(f"the reason must be one line of at most {_MAX_REASON} characters")
    return text
