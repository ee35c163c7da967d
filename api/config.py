"""Service settings, read once from ``GEODISPATCH_*`` environment variables (or ``.env``)."""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything the service reads from its environment; nothing else reads the environment."""

    model_config = SettingsConfigDict(
        env_prefix="GEODISPATCH_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'geodispatch.sqlite'}",
        description="sqlite:///FILE (SpatiaLite) or postgresql+psycopg://… (PostGIS)",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="URL `db upgrade` connects with on PostgreSQL: a role that owns the schema "
        "or may SET ROLE to its owner (database_owner_role); unset: database_url",
    )
    database_owner_role: str | None = Field(
        default=None,
        description="PostgreSQL role that owns the schema: `db upgrade` acts as it and then "
        "grants the service's role (the user of database_url) its privileges; unset: the "
        "migrating role itself (docs/operations.md)",
    )
    database_pre_ping: bool = Field(
        default=False,
        description="ping each pooled PostgreSQL connection before a request uses it: a round "
        "trip per request; without it a connection the server dropped fails one request with 503",
    )
    spatialite_library_path: str = Field(
        default="mod_spatialite",
        description="SpatiaLite module, as SQLite's load_extension takes it",
    )
    regions_file: Path = Field(default=PROJECT_ROOT / "data" / "regions.geojson")
    value_tiers_file: Path = Field(
        default=PROJECT_ROOT / "data" / "value_tiers.toml",
        description="the customer value-tier policy: RFM thresholds and what each tier changes "
        "in dispatch (docs/customers.md)",
    )
    procedures_dir: Path = Field(
        default=PROJECT_ROOT / "data" / "procedures",
        description="service procedures, one TOML file per procedure version (docs/procedures.md)",
    )
    device_rules_file: Path = Field(
        default=PROJECT_ROOT / "data" / "device_rules.toml",
        description="alarm rules per device model, versioned (docs/devices.md)",
    )
    escalation_rules_file: Path = Field(
        default=PROJECT_ROOT / "data" / "escalation_rules.toml",
        description="escalation and approval rules, versioned (docs/escalations.md)",
    )
    escalation_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="how often a thread of each service process evaluates the escalation "
        "rules (0: never; `geodispatch escalations run` does one pass)",
    )
    host: str = "127.0.0.1"
    port: PositiveInt = 8000
    max_region_vertices: PositiveInt = 20_000
    max_body_bytes: PositiveInt = 10 * 1024 * 1024
    rate_card_max_bytes: PositiveInt = Field(
        default=256 * 1024,
        description="largest rate-card document an upload may carry (413 above); rules and "
        "entries per table are capped too (api.rate_cards.repository.MAX_RULES, MAX_ENTRIES)",
    )
    dask_scheduler: str | None = Field(
        default=None, description="tcp://host:port of a Dask scheduler for partitioned solves"
    )
    log_level: str = "INFO"
    adjustment_max_amount: Decimal = Field(
        default=Decimal("10000"),
        gt=0,
        description="largest manual ledger adjustment either way, in the major unit (yuan); a "
        "larger one is refused (422 on amount), as is zero",
    )
    adjustment_approval_amount: Decimal = Field(
        default=Decimal("1000"),
        gt=0,
        description="a manual ledger adjustment larger than this either way, in yuan, waits "
        "for a second admin's approval (four eyes); at or above adjustment_max_amount: never",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="json: every line the service writes is one JSON object (docs/operations.md)",
    )
    dispatch_workers: PositiveInt = Field(
        default=1, description="worker processes that solve dispatch runs (one CPU core each)"
    )
    dispatch_warm_workers: bool = Field(
        default=True,
        description="start the dispatch workers with the service, each loading the solver's "
        "kernels, so the first run starts searching at once (off: the first run starts one)",
    )
    dispatch_max_time_limit_s: float = Field(
        default=60.0, gt=0, le=3600, description="the longest time limit a run may ask for"
    )
    dispatch_default_time_limit_s: float = Field(
        default=10.0, gt=0, le=3600, description="time limit of a run that asks for none"
    )
    dispatch_max_orders: PositiveInt = Field(
        default=2000, description="most tickets in one run (larger days: run per region)"
    )
    dispatch_max_technicians: PositiveInt = Field(
        default=300, description="most technicians in one run"
    )
    dispatch_emergency_share: float = Field(
        default=0.1, ge=0, lt=1, description="share of capacity availability keeps back"
    )
    skill_catalogue: list[str] = Field(
        default=[
            "aircon",
            "plumbing",
            "electrical",
            "appliance",
            "locks",
            "network",
            "solar",
            "heating",
        ],
        description="skill names tickets may require and technicians may have",
    )
    inquiry_corpus_dir: Path = Field(
        default=PROJECT_ROOT / "data" / "inquiries",
        description="labelled inquiries (*.jsonl) the inquiry model trains on (docs/inquiries.md)",
    )
    inquiry_model_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "models",
        description="where the trained inquiry model and jieba's dictionary cache are kept; "
        "writable by the service's user only (the model file is a pickle)",
    )
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone of a working day")
    sla_at_risk_margin_min: PositiveInt = Field(
        default=120, description="a ticket is at risk this close to its SLA deadline"
    )
    idempotency_ttl_h: PositiveInt = Field(default=48, description="keys are kept this long")
    lead_dedupe_window_days: PositiveInt = Field(
        default=30, description="a capture of the same person this soon after merges"
    )
    webhook_worker_enabled: bool = Field(
        default=False, description="deliver webhooks from a thread of the API process"
    )
    webhook_max_attempts: PositiveInt = Field(default=8, description="then a delivery fails")
    webhook_backoff_base_s: float = Field(
        default=10.0, gt=0, description="first retry delay; doubles per attempt, with jitter"
    )
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0, description="longest retry delay")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="per HTTP attempt")
    webhook_poll_s: float = Field(default=2.0, gt=0, description="worker idle poll interval")
    webhook_allow_private_urls: bool = Field(
        default=False, description="let webhooks target loopback and private addresses"
    )
    dispatch_run_lease_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="a queued or running run whose process has not refreshed it for this long "
        "has failed (the process refreshes it every quarter of this)",
    )
    auth_cache_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="a process trusts a token it authenticated this long without a query; a "
        "revoked key is refused at most this long after the revocation (0: always query)",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="key that signs browser session cookies; unset: a random key kept in "
        "var/session-secret (every process of one installation must share it)",
    )
    session_ttl_h: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="a browser session expires this long after sign-in",
    )
    session_cookie_secure: bool = Field(
        default=False, description="mark the session cookie Secure (set it when served over HTTPS)"
    )
    map_tiles: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="base-map tile URL template ({z}/{x}/{y}), or 'none' for no base map",
    )
    map_tiles_attribution: str = Field(
        default="&copy; OpenStreetMap contributors",
        description="attribution shown for the tiles (required by most tile providers)",
    )
    map_tiles_crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84",
        description="datum the tiles are drawn in: gcj02 for AMap/Tencent tiles shifts every "
        "layer for display (stored data stay WGS84)",
    )
    map_refresh_s: float = Field(
        default=5.0, ge=1, le=300, description="how often an open map refreshes its layers"
    )


@lru_cache
def get_settings() -> Settings:
    """Return the settings of this process (cached: the environment is read once)."""
    return Settings()
