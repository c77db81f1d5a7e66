"""``/api/v1/webhooks`` (with their delivery log) and ``/api/v1/devices`` (APNs tokens)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..auth.deps import AccountsDep, CurrentUser
from ..db.account_models import Delivery, Device, Webhook, new_id
from ..db.models import utcnow
from ..paths import API_PREFIX
from ..problems import Problem
from .outbox import NOTIFIED_EVENTS
from .webhooks import FAILED_SENTENCE, SENTENCES, allows_private, check_url

router = APIRouter(prefix=API_PREFIX, tags=["notifications"])
EventName = Literal["job.completed", "job.failed"]
MAX_WEBHOOKS = 10


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[EventName] = Field(default_factory=lambda: list(NOTIFIED_EVENTS), min_length=1)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime
    secret: str | None = Field(
        None, description="Signing secret (whsec_...): shown only when the webhook is created."
    )


class DeliveryOut(BaseModel):
    id: str
    event: str
    job_id: str
    status: str
    attempts: int
    last_error: str | None = Field(
        description="Why the last attempt failed, in a sentence (the receiver's status code "
        "and answer are not reported)."
    )
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeviceIn(BaseModel):
    token: str = Field(min_length=16, max_length=200, pattern=r"^[0-9a-fA-F]+$")


class DeviceOut(BaseModel):
    id: str
    token: str
    created_at: datetime


def _sessions(acc: Any):
    return acc.accounts._sessions


def _hook_out(hook: Webhook, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=hook.id, url=hook.url, events=hook.events, created_at=hook.created_at, secret=secret
    )


def _own_hook(acc: Any, user_id: str, hook_id: str) -> Webhook:
    with _sessions(acc)() as session:
        hook = session.get(Webhook, hook_id)
    if hook is None or hook.user_id != user_id:
        raise Problem(404, "There is no such webhook.", kind="webhook-not-found")
    return hook


@router.post("/webhooks", status_code=201, response_model=WebhookOut)
def create_webhook(body: WebhookIn, user: CurrentUser, acc: AccountsDep) -> WebhookOut:
    """Call ``url`` when a job of yours completes or fails; the answer holds the signing
    secret, the only time it is shown. Requests carry ``Moments-Signature: t=...,v1=...``."""
    sender = getattr(acc.outbox, "webhooks", None)
    if sender is not None:  # the same resolver and rules as its deliveries
        why = sender.check_url(body.url)
    else:
        why = check_url(body.url, allows_private(acc.settings))
    if why:
        raise Problem(422, f"The webhook URL is not acceptable: {why}.", kind="bad-webhook-url")
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = Webhook(
        id=new_id(),
        user_id=user.id,
        url=body.url,
        secret=secret,
        events=sorted(set(body.events)),
        created_at=utcnow(),
    )
    with _sessions(acc)() as session, session.begin():
        count = len(list(session.scalars(select(Webhook.id).where(Webhook.user_id == user.id))))
        if count >= MAX_WEBHOOKS:
            raise Problem(409, f"At most {MAX_WEBHOOKS} webhooks per account.", kind="too-many")
        session.add(hook)
    return _hook_out(hook, secret)


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(user: CurrentUser, acc: AccountsDep) -> list[WebhookOut]:
    """Your webhooks (without their secrets)."""
    query = select(Webhook).where(Webhook.user_id == user.id).order_by(Webhook.created_at)
    with _sessions(acc)() as session:
        return [_hook_out(h) for h in session.scalars(query)]


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, user: CurrentUser, acc: AccountsDep) -> Response:
    """Stop calling this webhook (its pending deliveries are dropped)."""
    _own_hook(acc, user.id, webhook_id)
    with _sessions(acc)() as session, session.begin():
        session.execute(delete(Delivery).where(Delivery.target_id == webhook_id))
        session.execute(delete(Webhook).where(Webhook.id == webhook_id))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    webhook_id: str,
    user: CurrentUser,
    acc: AccountsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[DeliveryOut]:
    """The delivery log, newest first: attempts, whether the last one failed and the next
    retry."""
    _own_hook(acc, user.id, webhook_id)
    query = (
        select(Delivery)
        .where(Delivery.target_id == webhook_id, Delivery.user_id == user.id)
        .order_by(Delivery.created_at.desc())
        .limit(limit)
    )
    with _sessions(acc)() as session:
        return [_delivery_out(d) for d in session.scalars(query)]


def _delivery_out(delivery: Delivery) -> DeliveryOut:
    out = DeliveryOut.model_validate(delivery, from_attributes=True)
    if out.last_error is not None and out.last_error not in SENTENCES:
        # A row written before failures were recorded as sentences holds the receiver's status
        # or a transport error: not for users.
        out.last_error = FAILED_SENTENCE
    return out


@router.post("/devices", status_code=201, response_model=DeviceOut)
def add_device(body: DeviceIn, user: CurrentUser, acc: AccountsDep) -> DeviceOut:
    """Register an iPhone's APNs device token for push notifications."""
    device = Device(id=new_id(), user_id=user.id, token=body.token.lower(), created_at=utcnow())
    try:
        with _sessions(acc)() as session, session.begin():
            session.add(device)
    except IntegrityError:
        with _sessions(acc)() as session:
            device = session.scalars(
                select(Device).where(Device.user_id == user.id, Device.token == body.token.lower())
            ).one()
    return DeviceOut(id=device.id, token=device.token, created_at=device.created_at)


@router.delete("/devices/{device_id}", status_code=204)
def remove_device(device_id: str, user: CurrentUser, acc: AccountsDep) -> Response:
    with _sessions(acc)() as session, session.begin():
        gone = session.execute(
            delete(Device).where(Device.id == device_id, Device.user_id == user.id)
        ).rowcount
    if not gone:
        raise Problem(404, "There is no such device.", kind="device-not-found")
    return Response(status_code=204)
