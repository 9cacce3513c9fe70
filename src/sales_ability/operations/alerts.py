"""Failure notices for unattended DAG runs, as Airflow notifiers (every task's and DAG run's
``on_failure_callback`` is the list ``failure_notifiers()`` returns):

- ``WebhookNotifier``: a JSON POST (``text`` plus the fields; Slack- and Teams-style incoming webhooks read
  ``text``) to ``SALES_ABILITY_ALERT_WEBHOOK``;
- ``EmailNotifier``: the SMTP provider's ``SmtpNotifier`` through the Airflow connection ``sales_ability_smtp``
  (host, port, credentials, TLS: ``AIRFLOW_CONN_SALES_ABILITY_SMTP`` or the connections UI), to
  ``SALES_ABILITY_ALERT_EMAIL_TO`` (comma-separated) from ``SALES_ABILITY_ALERT_EMAIL_FROM``;
- ``LogNotifier``: the notice as one log line, always.

A channel that fails is logged, never raised: a broken notifier must not hide the failure it reports.

No secret leaves through a notice or a log line: credentials in any URL of a message (a tracking URI's
password) are stripped, the webhook is named by its host only (its path is its secret), the notice's text is
set after Airflow renders the notifier's templates (an error message is never read as a template), and the
webhook has one overall deadline (``TIMEOUT_S``), however slowly a server drips its reply.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass
from functools import cache
from urllib.parse import urlsplit

from sales_ability.settings import settings

WEBHOOK_ENV = "SALES_ABILITY_ALERT_WEBHOOK"
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
    """Post ``alert`` to the webhook when one is set; returns the channels that took it (``["webhook"]`` or none)."""
    config = settings()
    url = config.alert_webhook.get_secret_value() if config.alert_webhook else None
    if not url:
        return []
    try:
        import httpx

        within_deadline(lambda: httpx.post(url, json={"text": alert.text(), **asdict(alert)},
                                           timeout=TIMEOUT_S).raise_for_status(), TIMEOUT_S)
        return ["webhook"]
    except Exception as err:  # noqa: BLE001 - reported, never raised; the URL's path is a secret
        log.error("failure notice to the webhook at %s failed: %s", url_host(url), type(err).__name__)
        return []


SMTP_CONN_ID = "sales_ability_smtp"


def failure_notifiers() -> list:
    """The notifiers of every task and DAG run, from the settings now: the log line always, the webhook and the
    e-mail when configured."""
    config = settings()
    LogNotifier, WebhookNotifier, EmailNotifier = notifier_classes()  # noqa: N806 - classes
    notifiers: list = [LogNotifier()]
    if config.alert_webhook:
        notifiers.append(WebhookNotifier())
    if config.alert_recipients:
        notifiers.append(EmailNotifier(to=config.alert_recipients, from_email=config.alert_email_from))
    return notifiers


@cache
def notifier_classes() -> tuple[type, type, type]:
    """``LogNotifier``, ``WebhookNotifier`` and ``EmailNotifier``, built on first use: Airflow is imported only where a
    DAG needs them."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk import BaseNotifier

    class LogNotifier(BaseNotifier):
        """The failure as one warning line in the task's (or the DAG processor's) log."""

        def notify(self, context) -> None:
            try:
                log.warning("%s", alert_from_context(context).text())
            except Exception as err:  # noqa: BLE001 - a callback must never raise
                log.error("failure notice could not be built: %s", err)

    class WebhookNotifier(BaseNotifier):
        """A JSON POST to ``SALES_ABILITY_ALERT_WEBHOOK``, within ``TIMEOUT_S``, never raised."""

        def notify(self, context) -> None:
            try:
                send_alert(alert_from_context(context))
            except Exception as err:  # noqa: BLE001 - a callback must never raise
                log.error("failure notice could not be built: %s", err)

    class EmailNotifier(SmtpNotifier):
        """Airflow's SMTP notifier on the ``sales_ability_smtp`` connection, with the notice's own subject and text
        (set after template rendering, so an error message is never rendered as a template)."""

        def __init__(self, to: list[str], from_email: str) -> None:
            super().__init__(to=to, from_email=from_email, smtp_conn_id=SMTP_CONN_ID, subject="", html_content="")

        def notify(self, context) -> None:
            from html import escape

            try:
                alert = alert_from_context(context)
                self.subject, self.html_content = alert.subject(), f"<pre>{escape(alert.text())}</pre>"
                super().notify(context)
            except Exception as err:  # noqa: BLE001 - reported, never raised
                log.error("failure notice by e-mail through connection %s failed: %s", SMTP_CONN_ID,
                          redact_credentials(str(err))[:300])

    return LogNotifier, WebhookNotifier, EmailNotifier
