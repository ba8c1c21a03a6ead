"""Settings, read from the environment and `.env` when `Settings()` is created, never at import."""

from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .logs import LogFormat, LogLevel

Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Everything the service can be told: each field reads `<env_prefix><FIELD>`."""

    model_config = SettingsConfigDict(
        env_prefix="{{ cookiecutter.package_name | upper }}_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # The project's name exactly as it was given; the formatter leaves this line alone.
    title: str = "{{ cookiecutter.project_name | replace('\\', '\\\\') | replace('"', '\\"') }}"  # fmt: skip
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    docs_enabled: bool = True
    log_level: LogLevel = "INFO"
    # "auto": readable text when stderr is a terminal, JSON lines otherwise (containers, CI).
    log_format: LogFormat = "auto"
    cors_origins: list[str] = []
    allowed_hosts: list[str] = []

    # How `python -m` runs uvicorn; the `uvicorn` command line takes its own flags instead.
    max_concurrency: Annotated[int, Field(ge=1)] = 1000
    keep_alive_timeout: Annotated[int, Field(ge=1)] = 5
    graceful_shutdown_timeout: Annotated[int, Field(ge=1)] = 15
    # Seconds between SIGTERM and the server closing its port: /ready answers 503 meanwhile,
    # so a load balancer stops choosing this replica first. 0 where the platform waits instead
    # (Kubernetes' preStop).
    drain_delay: Annotated[float, Field(ge=0)] = 0.0
    max_header_bytes: Annotated[int, Field(ge=1024)] = 16_384
    # Seconds each resource may take to close at shutdown (the last spans' export included).
    close_timeout: Seconds = 5.0
    # The largest request body taken (a 413 past it), under any server.
    max_body_bytes: Annotated[int, Field(ge=1)] = 1_048_576

    upstream_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:9000/")
    upstream_token: SecretStr | None = None
    # One attempt may take upstream_timeout; one call, with its retries and their waits,
    # upstream_deadline. Transient faults of GET, PUT and DELETE are tried again, up to
    # upstream_retry_attempts in all, waiting at most upstream_retry_after_max for a Retry-After.
    upstream_timeout: Seconds = 10.0
    upstream_deadline: Seconds = 15.0
    upstream_retry_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    upstream_retry_after_max: Seconds = 5.0
    upstream_connect_timeout: Seconds = 3.0
    upstream_max_connections: Annotated[int, Field(ge=1)] = 100
    upstream_max_body_bytes: Annotated[int, Field(ge=1)] = 1_048_576
{%- if cookiecutter.database == "postgres" %}

    # The default suits a PostgreSQL on this machine for development (compose.yaml runs one).
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/{{ cookiecutter.package_name }}"
    )
    database_pool_size: Annotated[int, Field(ge=1)] = 5
    database_pool_timeout: Seconds = 5.0
    database_connect_timeout: Seconds = 5.0
    database_statement_timeout: Seconds = 10.0
{%- endif %}
{%- if cookiecutter.jobs %}

    # The queue's server (Valkey or Redis) and the stream jobs wait in (compose.yaml runs one).
    jobs_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    jobs_queue: Annotated[str, Field(min_length=1, max_length=100)] = "jobs"
    # Jobs one worker process runs at once.
    jobs_concurrency: Annotated[int, Field(ge=1)] = 10
    # One job may take jobs_timeout, its retries and their waits included; it is tried up to
    # jobs_attempts times in all when it fails transiently, waiting jobs_retry_wait at first.
    jobs_timeout: Seconds = 300.0
    jobs_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    jobs_retry_wait: Seconds = 1.0
    # A job its worker has held this long (the worker died) is delivered again: longer than
    # jobs_timeout, so that a job still running is never taken from its worker.
    jobs_visibility_timeout: Seconds = 360.0
    # After SIGTERM, how long a worker lets its running jobs finish.
    jobs_drain_timeout: Seconds = 30.0
    jobs_connect_timeout: Seconds = 3.0
    # How long a job's state and result are kept, in seconds.
    jobs_result_ttl: Annotated[int, Field(ge=1)] = 86_400
    # A file a running worker touches every few seconds, for a liveness probe (worker.py).
    jobs_liveness_file: str | None = None
{%- endif %}
{%- if cookiecutter.jobs and cookiecutter.metrics %}
    # Where a worker serves its metrics (GET /metrics at `host`); none by default.
    jobs_metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None
{%- endif %}

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("list the origins that may call the service; '*' is not allowed")
        return origins

    @field_validator("allowed_hosts")
    @classmethod
    def _no_wildcard_host(cls, hosts: list[str]) -> list[str]:
        if "*" in hosts:
            raise ValueError(
                "list the host names the service answers to, or none for any; '*' is not allowed"
            )
        return hosts

    @field_validator("upstream_base_url")
    @classmethod
    def _end_with_slash(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        # Relative paths join onto the base URL (RFC 3986): without a trailing slash
        # the last segment of the base path would be replaced, so add one.
        if (url.path or "/").endswith("/"):
            return url
        return AnyHttpUrl(f"{url}/")
{%- if cookiecutter.auth == "jwt" %}

    # Callers present a bearer token (a JWT) from this issuer, for this audience, signed with
    # one of the issuer's published keys. Both are required: the exact `iss` and `aud` values.
    auth_issuer: Annotated[str, Field(min_length=1)]
    auth_audience: Annotated[str, Field(min_length=1)]
    # Where the keys are (JWKS); unset, the issuer's /.well-known/openid-configuration says.
    auth_jwks_url: AnyHttpUrl | None = None
    # Signatures taken: asymmetric ones only (a shared secret cannot be published as a key).
    auth_algorithms: list[str] = ["RS256", "ES256"]
    # Seconds of clock difference allowed when checking a token's times (exp, nbf, iat).
    auth_leeway: Annotated[float, Field(ge=0, le=300)] = 30.0
    # The keys are fetched when the service starts, again when a token names a key not
    # known (at most once per auth_keys_min_interval), and once they are auth_keys_max_age old.
    auth_keys_min_interval: Seconds = 10.0
    auth_keys_max_age: Seconds = 3600.0
    auth_timeout: Seconds = 5.0
    # The service's own token for the upstream (OAuth 2 client credentials), instead of
    # upstream_token: fetched from upstream_token_url when first needed, renewed before it expires.
    upstream_token_url: AnyHttpUrl | None = None
    upstream_client_id: str | None = None
    upstream_client_secret: SecretStr | None = None
    upstream_token_scope: str | None = None

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, algorithms: list[str]) -> list[str]:
        taken = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
        if not algorithms or not set(algorithms) <= taken | {"EdDSA"}:
            raise ValueError(f"list asymmetric algorithms only: {', '.join(sorted(taken))}, EdDSA")
        return algorithms

    def model_post_init(self, context: object, /) -> None:
        """Client credentials need an id and a secret, and replace upstream_token."""
        if self.upstream_token_url is None:
            return
        if self.upstream_token is not None:
            raise ValueError("set upstream_token or upstream_token_url, not both")
        if self.upstream_client_id is None or self.upstream_client_secret is None:
            raise ValueError("upstream_token_url needs a client id and a client secret")
{%- endif %}
