"""Service settings, read once from ``GEODISPATCH_*`` environment variables (or ``.env``)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, PositiveInt
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
    spatialite_library_path: str = Field(
        default="mod_spatialite",
        description="SpatiaLite module, as SQLite's load_extension takes it",
    )
    regions_file: Path = Field(default=PROJECT_ROOT / "data" / "regions.geojson")
    host: str = "127.0.0.1"
    port: PositiveInt = 8000
    max_region_vertices: PositiveInt = 20_000
    max_body_bytes: PositiveInt = 10 * 1024 * 1024
    dask_scheduler: str | None = Field(
        default=None, description="tcp://host:port of a Dask scheduler for partitioned solves"
    )
    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    """Return the settings of this process (cached: the environment is read once)."""
    return Settings()
