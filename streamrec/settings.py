"""One typed settings object, read from the environment and `.env`.

Variable names are case-insensitive and keep the original deployment's names (`data_path`,
`model_path`), so an existing `.env` keeps working. `.env.example` documents every variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Confidence = Literal["linear", "log"]


class Settings(BaseSettings):
    """Settings for training and serving; every field can be set as an environment variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    data_path: Path = Field(
        Path("data/sessions.csv"),
        description="Watch sessions CSV in the Twitch dataset format.",
    )
    model_path: Path = Field(
        Path("models/model.npz"), description="The model artifact written by als_fit.py."
    )

    host: str = Field("127.0.0.1", description="Address the API server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API server listens on.")
    default_k: int = Field(100, ge=1, le=1000, description="List length when `k` is not given.")
    access_log: bool = Field(False, description="Log every request (costs throughput).")
    opentelemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs (export needs an "
        "OpenTelemetry SDK); off skips their check on every request (~10 us).",
    )
    admin_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token for POST /admin/reload; empty disables the admin routes (404).",
    )
    reload_interval: float = Field(
        10.0, ge=0, description="Seconds between checks of model_path for a new model; 0 = off."
    )
    precompute_top_n: int = Field(
        128,
        ge=0,
        le=10_000,
        description="Streamers ranked per user at model load (at start-up in the background, "
        "requests being scored in full meanwhile), so requests with k up to about this need no "
        "catalogue scan; 0 = score every request in full.",
    )
    precompute_max_users: int = Field(
        100_000,
        ge=0,
        description="Users (most active first) whose lists are precomputed; each costs "
        "4 * precompute_top_n bytes and one scoring pass over the catalogue.",
    )
    repeat_weight: float = Field(
        10.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="Boost of a user's own streamers in lists that keep them "
        "(exclude_watched=false): score = ALS + repeat_weight * log(1 + watch steps); "
        "0 = ALS alone. 10 won the live-streaming evaluation (python metrics.py).",
    )
    precompute_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="Threads that compute the lists when a model loads without matching stored "
        "ones; 0 = one per core (os.cpu_count()). They run at low OS priority, so requests go "
        "first.",
    )

    # HTTP hardening: who may read, and how large a request may be before its body.
    api_key: SecretStr = Field(
        SecretStr(""),
        description="Key the read routes require ('Authorization: Bearer <key>' or "
        "'X-API-Key: <key>'); empty = open. /health, /ready, /metrics and the docs stay open.",
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=1 << 20,
        description="Largest request line plus headers; a larger request is answered 431.",
    )

    # Who is live: the live set the stream directory feeds (PUT/PATCH /live).
    live_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token of the live layer's write routes: PUT and PATCH /live (the "
        "stream directory) and POST /events (watch events); empty disables them (404). GET "
        "/live is a read route (api_key).",
    )
    live_ttl: float = Field(
        0.0,
        ge=0,
        le=86_400 * 7,
        allow_inf_nan=False,
        description="Seconds a live streamer stays live without being sent again; 0 = until "
        "sent offline.",
    )
    live_max_streamers: int = Field(
        100_000,
        ge=1,
        le=1_000_000,
        description="Most streamers in the live set, and in one PUT or PATCH list; /live "
        "bodies may hold 32 bytes per streamer (at least 1 MiB).",
    )
    live_only_default: bool = Field(
        False,
        description="Whether lists contain only live streamers when a request does not say "
        "(live_only); true answers 409 until the live set is fed.",
    )

    # What viewers watch: POST /events, the event log and the in-memory overlay.
    event_log_dir: Path = Field(
        Path("data/events"),
        description="Folder of the event log (POST /events appends there before answering; "
        "python als_fit.py --data it as training data).",
    )
    event_log_segment_bytes: int = Field(
        64 << 20, ge=1 << 16, description="A log segment is sealed at this size (bytes)."
    )
    event_log_segment_seconds: float = Field(
        600.0,
        gt=0,
        allow_inf_nan=False,
        description="A log segment is also sealed at this age (seconds).",
    )
    event_log_max_bytes: int = Field(
        10 << 30,
        ge=0,
        description="Most bytes of log segments no loaded model was trained on; beyond it POST "
        "/events answers 503 until a retrained model is loaded. 0 = no bound.",
    )
    event_log_retention_hours: float = Field(
        168.0,
        ge=0,
        allow_inf_nan=False,
        description="Segments the loaded model was trained on are removed this long after "
        "they were sealed.",
    )
    events_max_rows: int = Field(
        50_000, ge=1, le=1_000_000, description="Most rows in one POST /events batch."
    )
    events_max_body_bytes: int = Field(
        8 << 20, ge=1024, le=1 << 30, description="Largest POST /events body (bytes)."
    )
    events_max_inflight: int = Field(
        8,
        ge=1,
        le=1024,
        description="POST /events batches handled at once; more are answered 503 with Retry-After.",
    )
    events_max_in_memory: int = Field(
        1_000_000,
        ge=1,
        description="Most sessions the overlay holds in memory (about 250 bytes each); beyond "
        "it the viewers seen least recently are evicted (their events stay in the log).",
    )
    events_open_max_steps: int = Field(
        144, ge=1, description="Longest an open session counts, in steps (144 = a day)."
    )
    events_popular_steps: int = Field(
        6,
        ge=1,
        description="Window of 'popular now' in steps: distinct viewers per streamer among "
        "sessions started that recently order the popular lists.",
    )

    factors: int = Field(64, ge=1, le=1024, description="ALS latent factors.")
    iterations: int = Field(15, ge=1, le=1000, description="ALS sweeps over users and items.")
    regularization: float = Field(
        30.0,
        ge=0,
        description="ALS L2 regularisation (lambda). The fixed default, which the search "
        "starts from: within 6% of the best of a grid on the real Twitch slice and on two "
        "generated shapes (README, Training).",
    )
    alpha: float = Field(4.0, gt=0, description="Confidence scale: c = alpha * f(watch).")
    confidence: Confidence = Field(
        "log", description="f(watch): 'linear' = watch steps, 'log' = log(1 + watch / eps)."
    )
    eps: float = Field(1.0, gt=0, description="Watch-time scale of the 'log' confidence.")
    seed: int = Field(0, ge=0, description="Random seed of the factor initialisation.")
    tune: bool = Field(
        True,
        description="als_fit.py searches the hyperparameters on the latest sessions before "
        "training; false (or --no-tune) trains the fixed ones. Setting any hyperparameter "
        "above in the environment also trains exactly that.",
    )
    tune_budget: float = Field(
        10.0, gt=0, le=1000, description="Search budget in plain fits (--tune-budget)."
    )
    ranker: bool = Field(
        True,
        description="als_fit.py trains the live ranker for lists that keep watched streamers "
        "(false or --no-ranker: the repeat_weight blend serves them).",
    )
    spark_reg_param: float | None = Field(
        0.5,
        ge=0,
        allow_inf_nan=False,
        description="regParam of the Spark engine (als_fit.py --engine spark), which scales it "
        "by each user's and streamer's number of ratings; empty = map regularization as "
        "regularization * users / pairs (collapses at the default regularization).",
    )

    @field_validator("spark_reg_param", mode="before")
    @classmethod
    def _empty_is_mapped(cls, value: object) -> object:
        """An empty ``spark_reg_param`` (``spark_reg_param=`` in .env) means None: mapped."""
        if isinstance(value, str) and value.strip().lower() in ("", "none"):
            return None
        return value


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
