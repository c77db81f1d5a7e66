"""The outbox processor: turns job end events into refunds, metrics and notifications.

JobStore writes a ``job_events`` row in the same transaction that ends a job, in whichever
process ends it (embedded worker, Celery worker, API on cancel). This thread, in the API
process, takes each event exactly once (a conditional UPDATE claims it), then:

* gives back the reel if the job made none (failed, cancelled) — see accounts.quota;
* observes stage timings and processing time in the metrics;
* queues a delivery per matching webhook and per APNs device, in the same transaction.

It also sends due deliveries; a failed one is retried after ``webhook_backoff_seconds``,
doubling each time, up to ``webhook_max_attempts``. The API never waits for any of this.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..accounts.plans import month_period
from ..db.account_models import Delivery, Device, JobEvent, Usage, Webhook, new_id
from ..db.models import Job, utcnow
from ..paths import job_path
from .apns import alert_for
from .signing import callback_secret
from .webhooks import DELETED_SENTENCE, SendResult, WebhookSender

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..settings import Settings

log = logging.getLogger(__name__)

NOTIFIED_EVENTS = ("job.completed", "job.failed")
REFUNDED_EVENTS = ("job.failed", "job.cancelled")
BATCH = 50


def job_document(job: Job | None, job_id: str, kind: str) -> dict[str, Any]:
    """What a notification says about the job (no server paths, no storage keys)."""
    base = job_path(job_id)
    if job is None:  # deleted before we got to it
        return {"id": job_id, "status": kind.split(".", 1)[1]}
    doc: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "filename": job.filename or None,
        "error": job.error if job.status == "failed" else None,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "links": {"status": f"{base}/status", "details": base},
    }
    if job.status == "completed":
        result = job.result or {}
        keys = ("duration", "width", "height", "size_bytes", "bitrate", "codec", "profile")
        doc["reel"] = {k: result.get(k) for k in keys}
        doc["links"]["download"] = f"{base}/download"
        if job.poster_key:
            doc["links"]["poster"] = f"{base}/poster"
    return doc


class Outbox(threading.Thread):
    def __init__(
        self,
        settings: Settings,
        sessions: Callable[[], Session],
        *,
        metrics: Any = None,
        apns: Any = None,
        webhooks: WebhookSender | None = None,
        callback_key: bytes | None = None,
    ):
        super().__init__(name="outbox", daemon=True)
        self._callback_key = callback_key
        """The server secret each job's callback secret is derived from (signing.callback_secret);
        None: jobs' callback_url is not called."""
        self.settings = settings
        self._sessions = sessions
        self._metrics = metrics
        self._apns = apns
        self.webhooks = webhooks or WebhookSender.from_settings(settings)
        self._wake = threading.Event()
        self._stopping = threading.Event()

    # -- thread --------------------------------------------------------------------------

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # a bad row or a database hiccup must not end notifications
                log.exception("outbox pass failed")
            self._wake.wait(self.settings.outbox_interval)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)
        self.webhooks.close()
        if self._apns is not None:
            self._apns.close()

    def run_once(self) -> tuple[int, int]:
        """Process pending events, then send due deliveries. Returns (events, sends)."""
        events = self.process_events()
        sends = self.send_due()
        return events, sends

    # -- events --------------------------------------------------------------------------

    def process_events(self) -> int:
        with self._sessions() as session:
            ids = list(
                session.scalars(
                    select(JobEvent.id)
                    .where(JobEvent.processed_at.is_(None))
                    .order_by(JobEvent.id)
                    .limit(BATCH)
                )
            )
        done = 0
        for event_id in ids:
            observed = self._process_event(event_id)
            if observed is not None:
                done += 1
                if self._metrics is not None:
                    self._metrics.job_finished(*observed)
        return done

    def _process_event(self, event_id: int) -> tuple[str, Any, float | None] | None:
        """Claim and handle one event in one transaction; None if another process took it."""
        now = utcnow()
        with self._sessions() as session, session.begin():
            claimed = session.execute(
                update(JobEvent)
                .where(JobEvent.id == event_id, JobEvent.processed_at.is_(None))
                .values(processed_at=now)
            ).rowcount
            if claimed != 1:
                return None
            event = session.get(JobEvent, event_id)
            assert event is not None
            job = session.get(Job, event.job_id)
            status = event.kind.split(".", 1)[1]
            if event.owner_id and event.kind in REFUNDED_EVENTS and event.job_created_at:
                session.execute(
                    update(Usage)
                    .where(
                        Usage.user_id == event.owner_id,
                        Usage.period == month_period(event.job_created_at),
                        Usage.reels > 0,
                    )
                    .values(reels=Usage.reels - 1)
                )
            if event.owner_id and event.kind in NOTIFIED_EVENTS:
                callback = (job.options or {}).get("callback_url") if job is not None else None
                self._queue_deliveries(
                    session, event, job_document(job, event.job_id, event.kind), callback
                )
            seconds = None
            if job is not None and job.started_at and job.finished_at:
                seconds = (job.finished_at - job.started_at).total_seconds()
            return status, (job.result if job is not None else None), seconds

    def _queue_deliveries(
        self,
        session: Session,
        event: JobEvent,
        job: dict[str, Any],
        callback_url: str | None = None,
    ) -> None:
        """A delivery per webhook of the owner, per APNs device, and to the job's own
        callback_url (channel "callback", target: the job) with the webhooks' payload."""
        now = utcnow()
        payload = {
            "id": f"evt_{event.id}",
            "type": event.kind,
            "created": int(event.created_at.timestamp()),
            "data": {"job": job},
        }
        targets: list[tuple[str, str]] = []
        for hook in session.scalars(select(Webhook).where(Webhook.user_id == event.owner_id)):
            if event.kind in (hook.events or NOTIFIED_EVENTS):
                targets.append(("webhook", hook.id))
        if self._apns is not None:
            for device in session.scalars(select(Device).where(Device.user_id == event.owner_id)):
                targets.append(("apns", device.id))
        if callback_url and self._callback_key is not None:
            targets.append(("callback", event.job_id))
        for channel, target in targets:
            session.add(
                Delivery(
                    id=new_id(),
                    channel=channel,
                    target_id=target,
                    user_id=event.owner_id,
                    event=event.kind,
                    job_id=event.job_id,
                    payload=payload if channel != "apns" else alert_for(event.kind, job),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )

    # -- deliveries ----------------------------------------------------------------------

    def send_due(self) -> int:
        now = utcnow()
        with self._sessions() as session:
            ids = list(
                session.scalars(
                    select(Delivery.id)
                    .where(
                        Delivery.status == "pending",
                        Delivery.next_attempt_at <= now,
                        or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
                    )
                    .order_by(Delivery.next_attempt_at)
                    .limit(BATCH)
                )
            )
        sent = 0
        for delivery_id in ids:
            if self._stopping.is_set():
                break
            sent += self._send_one(delivery_id)
        return sent

    def _send_one(self, delivery_id: str) -> int:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_timeout + 30)
        with self._sessions() as session, session.begin():
            claimed = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.status == "pending",
                    or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
                )
                .values(claimed_until=lease)
            ).rowcount
            if claimed != 1:
                return 0
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            kind = {"webhook": Webhook, "callback": Job}.get(delivery.channel, Device)
            target: Any = session.get(kind, delivery.target_id)
            session.expunge_all()
        if target is None:
            result = SendResult(False, None, "the target was deleted", retry=False,
                                public=DELETED_SENTENCE)  # fmt: skip
        elif delivery.channel == "webhook":
            result = self.webhooks.send(
                target.url, target.secret, delivery.event, delivery.id, delivery.payload
            )
        elif delivery.channel == "callback":
            url = (target.options or {}).get("callback_url", "")
            secret = callback_secret(self._callback_key or b"", target.id)
            result = self.webhooks.send(url, secret, delivery.event, delivery.id, delivery.payload)
        elif self._apns is not None:
            result = self._apns.send(target.token, delivery.payload, delivery.id)
        else:
            result = SendResult(False, None, "APNs is not configured", retry=False,
                                public="Push notifications are not configured.")  # fmt: skip
        self._record(delivery, result)
        if self._metrics is not None:
            self._metrics.notifications.labels(
                delivery.channel, "ok" if result.ok else "error"
            ).inc()
        return 1

    def _record(self, delivery: Delivery, result: SendResult) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": result.status_code,  # for operators; never shown to users
            "last_error": result.shown,  # a plain sentence: what the delivery log shows
            "claimed_until": None,
            "updated_at": now,
        }
        if result.ok:
            values.update(status="succeeded", delivered_at=now, next_attempt_at=None)
        elif not result.retry or attempts >= self.settings.webhook_max_attempts:
            values.update(status="failed", next_attempt_at=None)
        else:
            wait = self.settings.webhook_backoff_seconds * 2 ** (attempts - 1)
            values.update(next_attempt_at=now + timedelta(seconds=wait))
        with self._sessions() as session, session.begin():
            session.execute(update(Delivery).where(Delivery.id == delivery.id).values(**values))
        log.info(
            "%s delivery %s attempt %d: %s",
            delivery.channel,
            delivery.id,
            attempts,
            "ok" if result.ok else result.error,
            extra={"job_id": delivery.job_id},
        )
