"""The hub's own tables, mirroring `schemas/case.schema.json`.

Every raw record that arrives is kept (sealed) in `raw_records` with exactly one outcome:
accepted, quarantined or superseded. Cases hold the current version; `case_history` holds every
accepted change; `quarantine` holds what could not be accepted and why; `sync_cursors` holds how
far each channel has been read — in this store, so it commits with the data it describes.
`provision_log` records every batch pushed to a recipient.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones, so values are stored as naive UTC there; PostgreSQL keeps
    `timestamptz`. A naive datetime is refused: partner local times are made aware by the
    connectors, never guessed here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Batch(Base):
    """One page of one channel, processed in one transaction."""

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), index=True)
    run_id: Mapped[str | None] = mapped_column(String(250))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    finished_at: Mapped[datetime] = mapped_column(Timestamp)
    received: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    quarantined: Mapped[int] = mapped_column(Integer)
    superseded: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class RawRecord(Base):
    __tablename__ = "raw_records"
    __table_args__ = (
        UniqueConstraint("channel", "content_hash", name="uq_raw_records_channel_content_hash"),
        Index("ix_raw_records_channel_source", "channel", "source_id"),
        Index("ix_raw_records_outcome", "outcome"),
    )

    raw_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    content_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(Timestamp)
    outcome: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(36))


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("channel", "source_id", name="uq_cases_channel_source_id"),
        Index("ix_cases_status", "status"),
        Index("ix_cases_district_category", "district_code", "category"),
        Index(
            "ix_cases_dedup_block",
            "district_code",
            "reported_at",
            postgresql_include=["community_code", "category", "lng", "lat", "reporter_phone_index"],
        ),
        Index("ix_cases_duplicate_of", "duplicate_of"),
        Index("ix_cases_cluster_id", "cluster_id"),
    )

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    source_status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    nature: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(6))
    source_category: Mapped[str] = mapped_column(String(32))
    health_related: Mapped[bool] = mapped_column(Boolean)
    grade: Mapped[str] = mapped_column(String(1))
    district_code: Mapped[str] = mapped_column(String(6))
    street_code: Mapped[str | None] = mapped_column(String(9))
    community_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(14))
    address: Mapped[str | None] = mapped_column(String(500))
    lng: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    source_crs: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str | None] = mapped_column(String(16))
    assigned_unit: Mapped[str | None] = mapped_column(String(200))
    time_limit_days: Mapped[int | None] = mapped_column(Integer)
    deadline_at: Mapped[datetime | None] = mapped_column(Timestamp)
    result: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    supervision: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    duplicate_of: Mapped[str | None] = mapped_column(String(36))
    cluster_id: Mapped[str | None] = mapped_column(String(36))
    # Why it is a probable duplicate (判重): the score and the signals that fired (casehub.dedup).
    duplicate_score: Mapped[float | None] = mapped_column(Float)
    duplicate_signals: Mapped[list[str] | None] = mapped_column(JSON)
    reported_at: Mapped[datetime] = mapped_column(Timestamp)
    received_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Personal data (反映人): sealed, with the key id beside the ciphertexts.
    pii_key_id: Mapped[str] = mapped_column(String(32))
    reporter_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_phone: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_id_number: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    reporter_fingerprint: Mapped[str] = mapped_column(String(64))
    # The blind-index key both digests above were made with (`casehub keys rotate --blind-index`).
    reporter_index_key_id: Mapped[str] = mapped_column(String(32))
    raw_id: Mapped[str] = mapped_column(String(36))


class CaseHistory(Base):
    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer)
    raw_id: Mapped[str] = mapped_column(String(36))
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"))
    source_updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # When the hub recorded the version: what a push's window is measured in.
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the hub decided about this version (classified, graded, routed, deadline): codes and
    # rule ids, never personal data.
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default=text("'[]'"))


class Quarantine(Base):
    """A raw record that did not become a case, with machine-readable reasons.

    `state` is `open` until the record is replayed into a case (`resolved`) or a newer version
    of the same source record is accepted (`superseded`).
    """

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_state_channel", "state", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    raw_id: Mapped[str] = mapped_column(ForeignKey("raw_records.raw_id"), unique=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"))
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    quarantined_at: Mapped[datetime] = mapped_column(Timestamp)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=list)
    """What happened to the entry after it was opened: one `{at, action, outcome, reasons}` per
    replay (reason codes only), oldest first."""


class SyncCursor(Base):
    """How far a channel has been read, by the partner's update time."""

    __tablename__ = "sync_cursors"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    batch_id: Mapped[str | None] = mapped_column(String(36))


class BackfillWindow(Base):
    """One window of a backfill (`casehub.backfill`): a channel's records updated in
    [`window_start`, `window_end`), read by one task. `position` is the newest update time its
    committed batches hold, moved in each batch's transaction: a killed window resumes there;
    `pages` counts those commits."""

    __tablename__ = "backfill_windows"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    position: Mapped[datetime | None] = mapped_column(Timestamp)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class KeyFingerprint(Base):
    """Which keys wrote this store, as fingerprints — never the keys.

    A key ring is checked against these before anything is written: a different ring with the
    same key id would otherwise seal new values no one can open beside old ones, and break the
    blind index; a ring without a key the store still uses could not read what it sealed.
    `purpose` is `seal` for an encryption key, `index` for a blind-index key. A key is
    `retired_at` once `casehub keys retire` found nothing under it: rings may then leave it out,
    and none may make it active again.
    """

    __tablename__ = "key_fingerprints"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(8), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(Timestamp)
    retired_at: Mapped[datetime | None] = mapped_column(Timestamp)


class InboundWebhook(Base):
    """A webhook a partner pushed, landed sealed before the gateway acknowledged it.

    The gateway commits the row, then answers 2xx; the partner's `webhook-id` is unique per
    partner, so a retried delivery finds the row and lands nothing twice. `payload` is the body
    exactly as received, sealed and bound to `webhook_inbox/<partner>/<webhook_id>`. A row stays
    `pending` until the pipeline has turned it into a raw record (`processed`, with its batch).
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("partner", "webhook_id", name="uq_webhook_inbox_partner_webhook_id"),
        Index("ix_webhook_inbox_partner_state", "partner", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner: Mapped[str] = mapped_column(String(32))
    webhook_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(Timestamp)
    content_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    batch_id: Mapped[str | None] = mapped_column(String(36))


class ProvisionLog(Base):
    """One batch of cases provided to a recipient (数据提供记录), written once its receipt is in.

    `fields` are the allow-listed field names the records carried, `purpose` why the recipient
    receives them. The batch id is unique per recipient and derived from the window and the
    batch's number in it, so a rerun of the window sends the same ids and finds what was already
    provided. A window is complete once its `final` batch is recorded; a push that stopped
    part-way resumes the same window. No personal data: counts, names and the receipt only.
    """

    __tablename__ = "provision_log"
    __table_args__ = (
        UniqueConstraint("recipient", "batch_id", name="uq_provision_log_recipient_batch_id"),
        Index("ix_provision_log_recipient_window", "recipient", "window_end", "batch_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[str]] = mapped_column(JSON)
    record_count: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(36))
    batch_number: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(Timestamp)
    window_end: Mapped[datetime] = mapped_column(Timestamp)
    final: Mapped[bool] = mapped_column(Boolean)
    pushed_at: Mapped[datetime] = mapped_column(Timestamp)
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxEvent(Base):
    """One change a partner must hear about, written in the same transaction as the change.

    `id` orders a partner's events; `event_id` is what the partner sees, the same on every
    attempt. `origin` names who made the change (a channel code, or `district:<code>`), so the
    change is never echoed back to it. `data` is the event's body, sealed and bound to
    `outbox/data/<event_id>`: it can carry a handling result or a reporter's name.

    `state` is `pending` until a receipt is recorded (`delivered`) or the event fails for good
    (`dead`, with `last_error`: a code and a message, never personal data). A pending event is
    next tried at `next_attempt_at`; the delivery truth is this table, not any task's state.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_partner_state_due", "partner", "state", "next_attempt_at"),
        Index("ix_outbox_case_partner", "case_id", "partner", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    partner: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str] = mapped_column(String(36))
    case_version: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(48))
    key_id: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp)
    last_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WorkflowOperation(Base):
    """An action a partner took on a case (a district's 签收, 办结 …), once per operation id.

    `actor` is the district code or the partner code; `request_hash` is the digest of the
    action as sent, so a repeat is recognised and a reuse of the id for another action refused;
    `outcome` is the answer given, repeated to a repeat.
    """

    __tablename__ = "workflow_operations"

    actor: Mapped[str] = mapped_column(String(32), primary_key=True)
    operation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)


class DistrictCredential(Base):
    """A district platform's credential for the standard interface.

    An `api_key` (REST) is kept only as the SHA-256 of its secret; a `soap` credential's
    password is sealed instead (bound to `district_credentials/password/<key_id>`), because a
    UsernameToken PasswordDigest can only be checked with the password itself. `key_id` is the
    public part of a key and the SOAP username.
    """

    __tablename__ = "district_credentials"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    seal_key_id: Mapped[str | None] = mapped_column(String(32))
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class SoapNonce(Base):
    """A WS-Security nonce seen by the gateway: shared by every gateway process, so a replay
    is refused whichever process it reaches. Rows older than the time window are purged."""

    __tablename__ = "soap_nonces"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class QualityResult(Base):
    """One expectation's outcome in one validation: what the quality pages and the trend count.

    A validation is one run of a suite on one batch — a page at ingest (`batch_id` set) or a
    channel's day in `quality_daily` (`day` set). `rule` is the expectation's rule id
    (`meta.rule` in `expectations/`); `evaluated` the rows it saw, `unexpected` the rows that
    broke it. Counts only: no value of a record is ever kept here.
    """

    __tablename__ = "quality_results"
    __table_args__ = (
        Index("ix_quality_results_channel_validated", "channel", "validated_at"),
        Index("ix_quality_results_validation", "validation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    validation_id: Mapped[str] = mapped_column(String(36))
    suite: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(36))
    day: Mapped[str | None] = mapped_column(String(10))
    evaluated: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean)
    validated_at: Mapped[datetime] = mapped_column(Timestamp)


class QualityTrend(Base):
    """A rule's pass rate on one channel for one day (Asia/Shanghai), kept by `quality_daily`.

    Re-validating a day replaces its rows; `pass_rate` is `1 - unexpected / evaluated` (1.0 when
    nothing was evaluated).
    """

    __tablename__ = "quality_trend"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    suite: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    evaluated: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    pass_rate: Mapped[float] = mapped_column(Float)
    validated_at: Mapped[datetime] = mapped_column(Timestamp)


class ClusterSplit(Base):
    """Two cases a handler said are not one incident (`casehub cluster split`).

    Stored once per pair, the smaller case id first; re-clustering never puts the two into one
    cluster again. `cluster_id` is the cluster they were split from, `by` who split it.
    """

    __tablename__ = "cluster_splits"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    other_case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(36))
    split_by: Mapped[str] = mapped_column(String(64))
    split_at: Mapped[datetime] = mapped_column(Timestamp)


class SupervisionNotice(Base):
    """One supervision rule fired on a case (督办): who was told, at which level, and what followed.

    A rule fires once per case and deadline: the unique key is (case, rule, deadline), so a
    postponement (延期), which moves the deadline, lets the rules fire again against the new
    one. `district_code`, `unit` and `grade` are the case's when the rule fired, as the reports
    count them; `unit_to` is the unit a re-dispatch moved the case to. `event_id` is the notice
    sent through the outbox (none when the handler hears no notices). Codes only.
    """

    __tablename__ = "supervision_notices"
    __table_args__ = (
        UniqueConstraint("case_id", "rule_id", "deadline_at", name="uq_supervision_notices_case_id"),
        Index("ix_supervision_notices_noticed_at", "noticed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36))
    rule_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    deadline_at: Mapped[datetime] = mapped_column(Timestamp)
    working_days: Mapped[int] = mapped_column(Integer)
    district_code: Mapped[str] = mapped_column(String(6))
    unit: Mapped[str | None] = mapped_column(String(200))
    grade: Mapped[str] = mapped_column(String(1))
    unit_to: Mapped[str | None] = mapped_column(String(200))
    noticed_at: Mapped[datetime] = mapped_column(Timestamp)
    event_id: Mapped[str | None] = mapped_column(String(36))


class Hotspot(Base):
    """A term residents wrote about in one district (or the city) over one period (热点词).

    `period` is `day` (the Asia/Shanghai day `day`) or `week` (the seven days ending on `day`);
    `scope` is a district code, or 420100 for the whole city. `cases` is how many of the
    period's cases name the term, `previous_cases` how many of the period before; `rise` the
    smoothed ratio of the two (`casehub.hotspots.ranking`). `rank` is the term's place among the
    period's top terms, `rising_rank` among its rising ones (each null when it is not there).
    `scope_cases` and `previous_scope_cases` are all the cases of the scope in the two periods.
    `hotspots_daily` replaces a day's rows whole. Words only: phone and ID numbers are masked
    before extraction and a term holds no digit.
    """

    __tablename__ = "hotspots"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    scope: Mapped[str] = mapped_column(String(6), primary_key=True)
    term: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int | None] = mapped_column(Integer)
    rising_rank: Mapped[int | None] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    previous_cases: Mapped[int] = mapped_column(Integer)
    tfidf: Mapped[float] = mapped_column(Float)
    textrank: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)
    rise: Mapped[float] = mapped_column(Float)
    scope_cases: Mapped[int] = mapped_column(Integer)
    previous_scope_cases: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(Timestamp)


class Open311Key(Base):
    """An Open311 client's API key (`o311_<key_id>_<secret>`): only the SHA-256 of its secret
    is kept, as for a district's key. `client` names who it was issued to; `scopes` are among
    `open311:write` (file requests) and `open311:update` (post updates)."""

    __tablename__ = "open311_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Open311Update(Base):
    """An update an Open311 client posted on a case (mySociety's `POST servicerequestupdates`),
    idempotent on the client's `update_id` per key. The description is public, so it is kept
    only masked: phone and ID numbers, and the poster's own names; the reporter fields the
    extension allows (names, email, phone) are never stored."""

    __tablename__ = "open311_updates"
    __table_args__ = (UniqueConstraint("key_id", "update_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32))
    update_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    received_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(String(500))
