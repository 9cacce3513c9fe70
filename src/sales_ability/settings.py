"""Every ``SALES_ABILITY_*`` environment variable in one typed object (pydantic-settings).

A deployment's settings are read from the environment each time ``settings()`` is called (a long-lived Airflow
worker or a test may change them). A bad value, or a ``SALES_ABILITY_*`` name that is no setting (a typo), is
refused with the variable's name: by the CLI at start, and by the DAG files when Airflow parses them.
``docs/operator.md`` ("Settings") has the same table for people.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sales_ability.errors import SalesAbilityError

PREFIX = "SALES_ABILITY_"


class SettingsError(SalesAbilityError):
    """A ``SALES_ABILITY_*`` variable with a value it cannot take, or a name that is no setting."""


class Settings(BaseSettings):
    """The deployment's settings; each field is ``SALES_ABILITY_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, case_sensitive=False, extra="ignore", frozen=True)

    # where things are
    project: Path | None = None  # the DVC project the DAGs run in (default: the folder above dags/)
    inbox: Path | None = None  # where applicants' answers wait to be scored (default: <project>/inbox)
    outbox: Path | None = None  # reports and shards of batch runs (default: <project>/outbox)
    database_url: str | None = None  # the results database (default: sqlite:///<project>/results.db)
    model_cache: Path | None = None  # downloaded model versions (default: ~/.cache/sales-ability/models)
    # batch scoring
    shard_size: int = Field(8, ge=1)  # videos per mapped scoring task
    max_shards: int = Field(256, ge=1)  # shards per batch run (under Airflow's 1,024 mapped tasks); the rest wait a run
    shard_timeout_h: float = Field(1.0, gt=0)  # hours one mapped scoring task may run
    batch_dagrun_timeout_h: float = Field(3.0, gt=0)  # hours a whole batch-scoring run may take
    # retraining
    repro_timeout_h: float = Field(12.0, gt=0)  # hours the retraining `dvc repro` may take
    retraining_dagrun_timeout_h: float = Field(20.0, gt=0)  # ends before the next night's run
    approval_timeout_h: float = Field(72.0, gt=0)  # no decision within this long means Reject
    retry_delay_s: float | None = Field(None, gt=0)  # overrides every task's first retry delay
    dvc_remote: str | None = None  # `dvc pull`/`dvc push -r` this remote (unset: the workspace's data)
    git_remote: str | None = None  # push the retraining branch here
    erasure_salt: SecretStr | None = None  # salts the erasure records' hash of an id (unset: the project's erasures/.salt)
    collect_data: Path | None = None  # the website's data folder the retraining DAG ingests from (unset: no ingest)
    # failure notices
    alert_webhook: SecretStr | None = None  # a URL that may carry a token: never printed whole
    alert_email_to: str = ""  # comma-separated addresses, sent through the Airflow connection sales_ability_smtp
    alert_email_from: str = "sales-ability@localhost"
    # the website and the model server
    admin_token: SecretStr | None = None  # the website's admin API (at least 32 characters)
    serve_root: Path | None = None  # the only folder `mlflow models serve` reads videos from (default: ./inbox)
    serve_token: SecretStr | None = None  # a request to the model server must carry it as the `token` param
    # the review workspace (sales-ability review serve)
    review_webhook_url: SecretStr | None = None  # the tracking system's endpoint for decisions and scored applicants
    review_webhook_secret: SecretStr | None = None  # HMAC-SHA256 key of the webhook's signature (at least 32 characters)
    review_cookie_secure: bool = True  # the session cookie is sent over HTTPS only (false only for a loopback trial)
    # output
    verbose: bool = False  # let third-party libraries' output through

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info) -> object:
        """An empty variable (``SALES_ABILITY_X=`` in a compose file) means the default, as it always did."""
        if value == "":
            return cls.model_fields[info.field_name].default
        return value

    @property
    def alert_recipients(self) -> list[str]:
        return [a.strip() for a in self.alert_email_to.split(",") if a.strip()]


def settings() -> Settings:
    """The settings in the environment now.

    Raises:
        SettingsError: a value a setting cannot take, or an unknown ``SALES_ABILITY_*`` name, each named.
    """
    known = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.upper().startswith(PREFIX) and k.upper() not in known)
    if unknown:
        hints = [f"{k} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(k.upper(), known, 1)) else k
                 for k in unknown]
        raise SettingsError(f"unknown setting: {', '.join(hints)}")
    try:
        return Settings()
    except ValidationError as err:
        problems = [f"{PREFIX}{str(e['loc'][0]).upper()}={e.get('input')!r}: {e['msg']}" for e in err.errors()]
        raise SettingsError("; ".join(problems)) from None
