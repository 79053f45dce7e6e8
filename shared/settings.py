"""One typed place for every setting, read from ONESTOP_* environment variables.

Defaults run on a developer's machine with no edits: they match what `make up` starts.
Secrets (database password, JWT signing key, personal-data key) are never defaulted here;
`deploy/scripts/secrets.sh` generates them into `var/secrets.env`, which is read as a
fallback so that the command line works without exporting anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["intake", "routing", "followup"]
SERVICES: tuple[ServiceName, ...] = ("intake", "routing", "followup")


def run_dir() -> Path:
    """The git-ignored runtime folder (data, logs, generated secrets)."""
    return Path(os.environ.get("ONESTOP_RUN_DIR", Path.cwd() / "var"))


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Settings shared by the three services, the relays, the consumers and the CLI."""

    model_config = SettingsConfigDict(env_prefix="ONESTOP_", extra="ignore")

    pg_host: str = "127.0.0.1"
    pg_port: int = 5433
    pg_user: str = "onestop"
    pg_password: SecretStr = SecretStr("")
    pg_dbname: str = "onestop"
    pg_pool_size: int = 8
    pg_socket_dir: str = Field(
        default_factory=lambda: str(run_dir() / "postgres"),
        description="Where a PostgreSQL on this host keeps its Unix socket "
        "(`.s.PGSQL.<pg_port>`; the server `make up` manages keeps it in var/postgres): "
        "while pg_host is a loopback address and the socket is there, connect through it, "
        "not TCP. See `Settings.pg_address`.",
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field(
        default="onestop", description="Prefix of every topic; tests use their own."
    )
    topic_partitions: int = 6
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        default="SASL_PLAINTEXT",
        description="How clients talk to the brokers; the broker `make up` starts demands "
        "SASL. SASL_SSL (with kafka_ssl_cafile) for a secured cluster across a network.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="How each service proves who it is."
    )
    kafka_ssl_cafile: str | None = Field(
        default=None, description="The CA that signed the brokers' certificates (SSL only)."
    )
    kafka_user_prefix: str = Field(
        default="onestop-",
        description="A service's Kafka principal is this prefix and its name (onestop-intake).",
    )
    kafka_password_intake: SecretStr = SecretStr("")
    kafka_password_routing: SecretStr = SecretStr("")
    kafka_password_followup: SecretStr = SecretStr("")
    kafka_admin_user: str = Field(
        default="onestop-admin",
        description="The operator's principal: provisions topics, users and ACLs "
        "(`onestop kafka provision`); the services never use it.",
    )
    kafka_admin_password: SecretStr = SecretStr("")
    kafka_admin_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="PLAIN",
        description="The managed broker knows its operator from its own configuration (PLAIN "
        "over the loopback); the services' SCRAM credentials live in the cluster's metadata.",
    )

    jwt_secret: SecretStr = SecretStr("")
    jwt_issuer: str = "onestop"
    data_keys: SecretStr = Field(
        default=SecretStr(""),
        description="The keyring personal data is sealed with: id:base64-AES-256-key "
        "entries, newest first (shared/cipher.py).",
    )
    petitioner_id_secret: SecretStr = Field(
        default=SecretStr(""), description="Secret of the key that finds a petitioner again."
    )
    case_code_secret: SecretStr = Field(
        default=SecretStr(""), description="Secret of the key of petitioners' case codes."
    )
    evidence_signing_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Secret of follow-up's Ed25519 key that signs checkpoints and dossiers "
        "(shared/keys.py); its public key is published at GET /v1/evidence/public-key.",
    )
    pii_key: SecretStr = Field(
        default=SecretStr(""),
        description="Earlier releases' one key for all three (read only where the three "
        "above are not set, so their stores keep working).",
    )

    http_host: str = "127.0.0.1"
    intake_port: int = 8001
    routing_port: int = 8002
    followup_port: int = 8003
    console_port: int = Field(default=8004, description="The staff console and petitioner page.")
    console_public_url: str | None = Field(
        default=None,
        description="Where petitioners reach the console (its QR codes point there); "
        "unset: the address the clerk's browser used.",
    )
    console_language: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="The console's language (services/console/strings.py)."
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="Mark the console's cookies Secure: set it when the console is served "
        "over HTTPS (behind a TLS proxy), as it should be anywhere but a developer's machine.",
    )

    timezone: str = Field(default="Asia/Shanghai", description="Local time of the centre.")
    relay_poll_seconds: float = Field(
        default=0.5,
        description="How often an idle relay looks whether it is to stop (it wakes at once "
        "for new events, told by PostgreSQL or its own process).",
    )
    clock_file: str | None = Field(
        default=None,
        description="Drills and tests only: a file holding seconds to add to the real time, "
        "so months of deadlines pass in seconds. Never set in production.",
    )
    followup_policy: str = Field(
        default="13710",
        description="The deadline policy follow-up applies: a built-in name, or a JSON file "
        "in the shape of GET /v1/policy.",
    )
    stats_closure_base: Literal["accepted", "registered"] = Field(
        default="accepted", description="办结率's base: accepted|registered"
    )
    stats_resolution: Literal["settled", "closed-out"] = Field(
        default="settled", description="化解率: settled|closed-out"
    )
    stats_cessation: Literal["no-repeat", "commitment", "either"] = Field(
        default="no-repeat", description="息访率: no-repeat|commitment|either"
    )
    scheduler_seconds: float = Field(
        default=1.0, description="How often follow-up looks for reminders and breaches due."
    )
    gauges_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How old the domain gauges on /metrics (cases, deadlines, inboxes) may "
        "be: each is a count over a whole read model, so it is read at most this often, "
        "not at every scrape.",
    )
    max_body_bytes: int = 64 * 1024
    checkpoint_seconds: float = Field(
        default=60.0,
        description="How often follow-up signs a checkpoint over every case's chain (only "
        "when a chain moved since the last).",
    )
    checkpoint_dir: str | None = Field(
        default=None,
        description="Where follow-up writes its signed checkpoints for auditors to archive "
        "(default: <run dir>/checkpoints).",
    )
    checkpoint_leaves_kept: int = Field(
        default=48,
        ge=1,
        description="For how many of the latest checkpoints every case's leaf is kept "
        "(the signed checkpoints themselves are kept for good).",
    )
    attachment_store: Literal["file", "s3"] = Field(
        default="file",
        description="Where attachments' bytes live: the filesystem (attachment_dir), or an "
        "S3-API object store (attachment_s3_*).",
    )
    attachment_dir: str | None = Field(
        default=None,
        description="The filesystem store of attachments (default: <run dir>/attachments).",
    )
    attachment_max_bytes: int = Field(
        default=20 * 1024 * 1024, description="The largest attachment accepted, in bytes."
    )
    attachment_s3_endpoint: str | None = Field(
        default=None, description="The S3 API's URL, e.g. https://s3.example.gov.cn"
    )
    attachment_s3_bucket: str = "onestop-attachments"
    attachment_s3_region: str = "us-east-1"
    attachment_s3_access_key: SecretStr = SecretStr("")
    attachment_s3_secret_key: SecretStr = SecretStr("")
    retention_days: int | None = Field(
        default=1825,
        description="Days after the last of a petitioner's cases ended (closed, final, "
        "declined or diverted) when their personal data is erased; unset: never by itself.",
    )
    retention_sweep_seconds: float = Field(
        default=3600.0, description="How often intake looks for petitioners past retention."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="Where traces go (an OTLP/HTTP collector, e.g. http://127.0.0.1:4318); "
        "unset: spans are made but not exported.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one object per line, with trace and case ids"
    )

    def pg_address(self) -> str:
        """Where to reach PostgreSQL: the directory of its Unix socket when the server is on
        this host (`pg_host` a loopback address) and `pg_socket_dir` holds the socket of
        `pg_port`; else `pg_host`, over TCP.

        On one host a socket is also the faster way: over TCP loopback, a result of ~100 kB
        or more (a case's 200-event history is 180 kB) now and then came back 20–70 ms late
        on a connection of the pool that had sat idle — up to 1 % of such reads, on the
        server's side all under 5 ms — and never through the socket (5,000 reads each way,
        8 connections taken in turn: over TCP 38–76 reads over 10 ms, p99 3–13 ms; through
        the socket none, p99 2 ms)."""
        if self.pg_host in LOOPBACK and self.pg_socket_dir:
            socket = Path(self.pg_socket_dir) / f".s.PGSQL.{self.pg_port}"
            if socket.is_socket():
                return self.pg_socket_dir
        return self.pg_host

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Environment first, then `var/secrets.env`, then the defaults above."""
        secrets = run_dir() / "secrets.env"
        env_file = secrets if secrets.is_file() else None
        # pydantic-settings takes the file as an init argument its signature does not declare
        arguments: dict[str, Any] = {"_env_file": env_file, **overrides}
        return cls(**arguments)

    def port_of(self, service: ServiceName) -> int:
        return {"intake": self.intake_port, "routing": self.routing_port}.get(
            service, self.followup_port
        )

    def url_of(self, service: ServiceName) -> str:
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "") else self.http_host
        return os.environ.get(
            f"ONESTOP_{service.upper()}_URL", f"http://{host}:{self.port_of(service)}"
        )

    def kafka_principal(self, who: ServiceName | Literal["admin"]) -> tuple[str, str, str]:
        """(user, password, SASL mechanism) a service — or the operator — signs in with."""
        if who == "admin":
            user, secret, mechanism = (
                self.kafka_admin_user,
                self.kafka_admin_password,
                self.kafka_admin_mechanism,
            )
            variable = "ONESTOP_KAFKA_ADMIN_PASSWORD"
        else:
            user = f"{self.kafka_user_prefix}{who}"
            secret = getattr(self, f"kafka_password_{who}")
            mechanism = self.kafka_sasl_mechanism
            variable = f"ONESTOP_KAFKA_PASSWORD_{who.upper()}"
        if not secret.get_secret_value():
            raise ValueError(
                f"{variable} is not set: Kafka asks {user} for a password "
                "(deploy/scripts/secrets.sh writes one into var/secrets.env)"
            )
        return user, secret.get_secret_value(), mechanism

    def topic(self, service: ServiceName) -> str:
        """The topic a service publishes its events to."""
        return f"{self.topic_prefix}.{service}.events"

    def checkpoint_topic(self) -> str:
        """Where follow-up publishes its signed checkpoints (only follow-up may write)."""
        return f"{self.topic_prefix}.followup.checkpoints"

    def folder(self, configured: str | None, default: str) -> Path:
        return Path(configured) if configured else run_dir() / default

    def dead_letter_topic(self, service: ServiceName) -> str:
        """Where a service's consumer puts records it cannot process, with the reason."""
        return f"{self.topic_prefix}.{service}.deadletter"
