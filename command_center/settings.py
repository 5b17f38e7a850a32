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
    allowed_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    outbox_poll_seconds: float = 0.2
    outbox_retention_days: int = 7
    db_pool_size: int = 10
    var_dir: Path = PROJECT_ROOT / "var"

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
