"""Failure notices for unattended DAG runs: a webhook and/or an e-mail, configured by environment.

- ``SALES_ABILITY_ALERT_WEBHOOK``: a URL that gets a JSON POST (``text`` plus the fields; Slack- and
  Teams-style incoming webhooks read ``text``);
- ``SALES_ABILITY_ALERT_SMTP``: ``host:port`` of an SMTP relay, with ``SALES_ABILITY_ALERT_EMAIL_TO``
  (comma-separated) and optionally ``SALES_ABILITY_ALERT_EMAIL_FROM``.

Neither set: the failure is only logged. A channel that fails is logged, never raised: a broken notifier
must not hide the failure it reports.

No secret leaves through a notice or a log line: credentials in any URL of a message (a tracking URI's
password) are stripped, the webhook is named by its host only (its path is its secret), and each channel has
one overall deadline (``TIMEOUT_S``), however slowly a server drips its reply.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from sales_ability.settings import settings

WEBHOOK_ENV = "SALES_ABILITY_ALERT_WEBHOOK"
SMTP_ENV = "SALES_ABILITY_ALERT_SMTP"
EMAIL_TO_ENV = "SALES_ABILITY_ALERT_EMAIL_TO"
EMAIL_FROM_ENV = "SALES_ABILITY_ALERT_EMAIL_FROM"
TIMEOUT_S = 10.0

log = logging.getLogger(__name__)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s:]*(?::[^/@\s]*)?@")


def redact_credentials(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ``***``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", text)


def url_host(url: str) -> str:
    """Only the scheme and host of a URL (a webhook's path and query are its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def within_deadline(send, seconds: float) -> None:
    """Run ``send()`` in a daemon thread and give up after ``seconds`` overall (a reply dripped byte by byte
    never resets it); its exception, or a ``TimeoutError``, is raised here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            send()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            errors.append(err)

    worker = threading.Thread(target=run, daemon=True, name="failure-notice")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class Alert:
    """What failed, where, and why."""

    dag_id: str
    run_id: str
    task_id: str | None  # None: the DAG run itself failed (a task failure, or its dagrun_timeout)
    try_number: int | None
    reason: str
    log_url: str | None

    def subject(self) -> str:
        where = f"task {self.task_id}" if self.task_id else "DAG run"
        return f"[sales-ability] {self.dag_id}: {where} failed ({self.run_id})"

    def text(self) -> str:
        lines = [self.subject(), f"reason: {self.reason}"]
        if self.try_number is not None:
            lines.append(f"try: {self.try_number}")
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)


def alert_from_context(context: dict) -> Alert:
    """An ``Alert`` from an Airflow callback context (a task's or a DAG run's)."""
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None) or str(context.get("dag", "?"))
    run_id = getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None) or "?"
    error = context.get("exception")
    reason = f"{type(error).__name__}: {error}" if error is not None else str(context.get("reason") or "failed")
    is_dag_run = "reason" in context and context.get("exception") is None  # DAG callbacks say why the run ended
    task_id = None if is_dag_run else getattr(ti, "task_id", None)
    return Alert(dag_id=str(dag_id), run_id=str(run_id), task_id=task_id,
                 try_number=getattr(ti, "try_number", None) if task_id else None,
                 reason=redact_credentials(reason)[:2000], log_url=getattr(ti, "log_url", None) if task_id else None)


def send_alert(alert: Alert) -> list[str]:
    """Deliver ``alert`` on every configured channel; returns the channels that took it."""
    delivered = []
    config = settings()
    if url := (config.alert_webhook.get_secret_value() if config.alert_webhook else None):
        try:
            import httpx

            within_deadline(lambda: httpx.post(url, json={"text": alert.text(), **asdict(alert)},
                                               timeout=TIMEOUT_S).raise_for_status(), TIMEOUT_S)
            delivered.append("webhook")
        except Exception as err:  # noqa: BLE001 - reported, never raised; the URL's path is a secret
            log.error("failure notice to the webhook at %s failed: %s", url_host(url), type(err).__name__)
    if relay := config.alert_smtp:
        try:
            within_deadline(lambda: _send_mail(alert, relay), TIMEOUT_S)
            delivered.append("email")
        except Exception as err:  # noqa: BLE001 - reported, never raised
            log.error("failure notice by e-mail through %s failed: %s", relay.rpartition("@")[2],
                      redact_credentials(str(err)))
    log.warning("%s (notified: %s)", alert.text(), ", ".join(delivered) or "nobody: no channel configured")
    return delivered


def _send_mail(alert: Alert, relay: str) -> None:
    import smtplib
    from email.message import EmailMessage

    config = settings()
    to = config.alert_recipients
    if not to:
        raise ValueError(f"{SMTP_ENV} is set but {EMAIL_TO_ENV} names nobody")
    host, _, port = relay.rpartition(":")
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = (
        alert.subject(), config.alert_email_from, ", ".join(to))
    message.set_content(alert.text())
    with smtplib.SMTP(host or relay, int(port) if port else 25, timeout=TIMEOUT_S) as smtp:
        smtp.send_message(message)


def notify_failure(context: dict) -> None:
    """The ``on_failure_callback`` of every task and DAG of the project."""
    try:
        send_alert(alert_from_context(context))
    except Exception as err:  # noqa: BLE001 - a callback must never raise
        log.error("failure notice could not be built: %s", err)
