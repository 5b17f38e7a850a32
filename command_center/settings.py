"""The one settings class. Every setting has a default that works on one machine."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "insecure-development-secret-change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CC_", env_file=None, extra="ignore")

    env: str = Field("development", description="development, test or production")
    database_url: str = Field(
        f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'command_center.db'}",
        description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg)",
    )
    redis_url: str | None = Field(None, description="Redis URL; unset: `up` starts a private redis-server")
    secret_key: str = DEFAULT_SECRET
    queue_name: str = "command-center:queue"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(None, description="external URL, e.g. https://hub.example.court")
    cookie_secure: bool | None = Field(None, description="Secure cookies; default: when public_url is https")
    session_hours: int = 12
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_minutes: int = 15
    second_factor_required_roles: list[str] = Field(
        default_factory=lambda: ["admin", "command_staff"],
        description="roles that must sign in with a TOTP code; until enrolled they may only set it up",
    )
    second_factor_challenge_seconds: int = Field(
        300, ge=30, le=1800, description="time between the password and the code at sign-in"
    )
    allowed_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    outbox_poll_seconds: float = 0.2
    outbox_retention_days: int = 7
    db_pool_size: int = 10
    calendar_refresh_seconds: float = Field(60, gt=0, description="how often a node reloads loaded holiday years")
    var_dir: Path = PROJECT_ROOT / "var"
    # Video consultations. ICE servers come only from here: there is no public default.
    stun_urls: list[str] = Field(default_factory=list, description="STUN URLs handed to browsers (stun:host:port)")
    turn_urls: list[str] = Field(default_factory=list, description="TURN URLs handed to browsers (turn:host:port)")
    turn_secret: str | None = Field(None, description="coturn use-auth-secret shared secret (TURN REST credentials)")
    video_join_token_seconds: int = Field(120, ge=10, description="lifetime of a video join token")
    video_session_max_hours: float = Field(4, gt=0, description="cap on a TURN credential's lifetime")
    video_forwarding: bool = Field(
        True, description="forward encoded frames to subscribers (false: decode once, re-encode per subscriber)"
    )
    video_segment_seconds: float = Field(60, gt=0, description="length of one recording segment")
    video_recording_dir: Path | None = Field(None, description="where recordings go; default var_dir/recordings")
    webrtc_host_addresses: list[str] = Field(
        default_factory=list,
        description="addresses the media server announces as ICE host candidates; empty: every non-loopback "
        "interface (aioice's own discovery). A loopback-only test network sets 127.0.0.1.",
    )
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1, description="largest attachment accepted, in bytes")

    # Statutory deadlines: reminders, supervision orders and the reconciler (scheduler/).
    reminder_lead_working_days: int = Field(
        1, ge=1, description="remind the court this many working days before a deadline ends"
    )
    supervision_order_working_days: int = Field(
        3, ge=1, description="working days a supervision order (督办) gives the target court"
    )
    reconcile_interval_seconds: int = Field(60, ge=1, description="how often the reconciler sweeps deadlines")
    reconcile_batch_size: int = Field(1000, ge=1, description="deadlines read and enqueued per reconciler batch")
    reconcile_budget_seconds: float = Field(
        20.0, gt=0, description="time one sweep may spend restoring the deadline schedule"
    )
    reconcile_settle_seconds: int = Field(
        60, ge=0, description="age a new deadline must reach before the schedule cursor moves past it"
    )
    deadline_job_timeout_seconds: float = Field(
        30.0, gt=0, description="longest a deadline job may run; its lease on the job lasts 10 s more"
    )

    # Real-time layer (realtime/): size, rate and queue limits per socket.io client, presence in Redis.
    realtime_max_message_bytes: int = Field(
        64 * 1024, ge=1024, description="largest engine.io message a client may send; larger closes it"
    )
    realtime_max_event_bytes: int = Field(
        8 * 1024, ge=256, description="largest client event payload (JSON) a handler accepts"
    )
    realtime_events_per_second: float = Field(10.0, gt=0, description="client events refilled per second")
    realtime_event_burst: int = Field(30, ge=1, description="client events allowed in a burst")
    realtime_max_queued_packets: int = Field(
        1000, ge=10, description="packets waiting for one client before it is dropped as a slow consumer"
    )
    realtime_replay_limit: int = Field(
        2000, ge=1, description="events replayed per room on resume; a client further behind must resync"
    )
    realtime_presence_ttl_seconds: float = Field(
        15.0, gt=0, description="a node whose heartbeat is older is dead and its presence entries swept"
    )
    realtime_typing_interval_seconds: float = Field(
        2.0, ge=0, description="at most one typing indicator per client and request in this interval"
    )

    # Campaigns (assistance/campaigns, scheduler/campaigns.py): dispatch batches and the reconciler.
    campaign_dispatch_batch_size: int = Field(
        5000, ge=1, le=50_000, description="cases a dispatch handles per transaction (SQLite: ~0.15 s of write lock)"
    )
    campaign_dispatch_pause_seconds: float = Field(
        0.0, ge=0, description="pause between dispatch batches, to leave the database to other work"
    )
    campaign_dispatch_stale_seconds: float = Field(
        60.0, gt=0, description="a dispatch whose job has committed no batch for this long is taken over"
    )
    campaign_dispatch_timeout_seconds: int = Field(
        6 * 3600, ge=10, description="longest a single dispatch job may run"
    )
    campaign_reconcile_seconds: int = Field(
        15, ge=1, le=60, description="how often the worker looks for dispatches without a live job"
    )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return bool(self.public_url and self.public_url.startswith("https://"))


@lru_cache
def get_settings() -> Settings:
    return Settings()
