"""Server settings: one object, read from ``ALLOOP_*`` environment variables.

Build it with ``Settings()`` (or pass fields explicitly) and hand it to
``create_app(settings)``; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every limit and default of the server, with its environment variable."""

    model_config = SettingsConfigDict(env_prefix="ALLOOP_", extra="ignore")

    data_dir: Path = Field(Path("./alloop-data"), description="Where the SQLite store and feature files live.")
    store: str | None = Field(
        None,
        description="A PostgreSQL database (postgresql://user@host:port/db; ALLOOP_STORE, or alloop serve --store) "
        "that holds the store instead of the SQLite file in data_dir: several servers (replicas) may share it, "
        "each with the same data_dir on a shared folder for the feature files and models. Needs the postgres extra.",
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token every call but /health needs (ALLOOP_ADMIN_TOKEN); unset: open."
    )
    image_root: Path | None = Field(
        None, description="Folder that image projects' image_path values are relative to (ALLOOP_IMAGE_ROOT, or "
        "alloop serve --image-root); unset: items must carry their images inline.",
    )
    max_body_bytes: int = Field(64 * 1024 * 1024, description="Request bodies larger than this get 413.")
    max_next_n: int = Field(1000, description="Largest n a /next call may ask for.")
    next_wait_seconds: float = Field(
        5.0, ge=0.0,
        description="How long /next waits by default for a fresh ranking when the served one is past the "
        "project's max_stale_labels (or the pool is still embedding) before answering an empty batch.",
    )
    max_next_wait_seconds: float = Field(60.0, ge=0.0, description="Largest wait a /next call may ask for.")
    queue_depth: int = Field(
        5000,
        description="How many top-ranked items each ranking stores; past them /next serves the rest "
        "of the pool in its seeded random order.",
    )
    score_chunk_rows: int = Field(
        65_536, description="Pool rows scored per chunk (bounds memory); with a Ray cluster, one task per chunk."
    )
    ray_address: str | None = Field(
        None,
        description="A Ray cluster ('auto' or the head's HOST:PORT) that scores the pool (a task per chunk, "
        "when the pool has more than one) and embeds texts (an encoder per CPU); unset: both run in the "
        "server's worker. Needs the ray extra.",
    )
    stabilize_threshold: float = Field(
        0.99,
        description="Default stabilization stop: agreement of successive models' predictions on the "
        "unlabeled pool at or above this ...",
    )
    stabilize_rounds: int = Field(3, description="... for this many successive retrains in a row.")
    cold_start: str = Field(
        "kmeans++",
        description="Default cold-start rule before the first model: 'kmeans++' (diverse seeds over the "
        "features) or 'random'.",
    )
    embed_batch_rows: int = Field(
        1024, description="Text items embedded per background batch (progress advances per batch)."
    )
    round_files: bool = Field(
        True,
        description="Write each round's model and pool predictions to the data directory (what suggestions, "
        "the stabilization stop and Label Studio predictions read). Simulations turn it off: nothing reads "
        "them there, and the two writes cost more than fitting a small model.",
    )
    keep_models: int = Field(3, ge=1, description="Saved model versions kept per project (older ones are deleted).")
    worker: Literal["process", "thread"] = Field(
        "process",
        description="Where rounds run: 'process' (a separate worker at lower priority, so training never "
        "slows /next) or 'thread' (in the server process; for tests and tiny deployments).",
    )
    worker_poll_seconds: float = Field(0.2, description="How often the loop controller looks for work.")
    synchronous: str = Field("FULL", description="SQLite synchronous pragma (FULL: no acknowledged write lost).")

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "alloop.db"
