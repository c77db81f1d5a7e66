"""APNs pushes through aioapns (token-based auth with a .p8 key), behind the sender interface.

aioapns is asyncio; the outbox thread is not, so this keeps one private event loop and runs
each send on it. ``apns_server`` (host:port) points the client at a stand-in with a CA file
(``ssl_context``) — what the tests do, since Apple's servers cannot be reached from here.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .webhooks import SendResult

if TYPE_CHECKING:
    from ..settings import Settings

# Reasons after which sending to this device again is pointless (Apple's documentation).
DEAD_TOKEN_REASONS = {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"}


class APNsSender:
    def __init__(
        self,
        *,
        key: str,
        key_id: str,
        team_id: str,
        topic: str,
        sandbox: bool = False,
        server: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self._config = dict(key=key, key_id=key_id, team_id=team_id, topic=topic)
        self._sandbox, self._server, self._ssl = sandbox, server, ssl_context
        self._loop = asyncio.new_event_loop()
        self._client: Any = None

    @classmethod
    def from_settings(
        cls, settings: Settings, ssl_context: ssl.SSLContext | None = None
    ) -> APNsSender | None:
        if settings.apns_key_file is None:
            return None
        if ssl_context is None and settings.apns_ca_file is not None:
            ssl_context = ssl.create_default_context(cafile=str(settings.apns_ca_file))
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        return cls(
            key=Path(settings.apns_key_file).read_text(),
            key_id=settings.apns_key_id,
            team_id=settings.apns_team_id,
            topic=settings.apns_topic,
            sandbox=settings.apns_sandbox,
            server=settings.apns_server,
            ssl_context=ssl_context,
        )

    def _make_client(self) -> Any:
        from aioapns import APNs
        from aioapns.connection import APNsTLSClientProtocol

        client = APNs(
            **self._config,
            use_sandbox=self._sandbox,
            ssl_context=self._ssl,
            max_connection_attempts=1,
        )
        if self._server:
            host, _, port = self._server.rpartition(":")
            client.pool.protocol_class = type(
                "StandInProtocol",
                (APNsTLSClientProtocol,),
                {"APNS_SERVER": host, "APNS_PORT": int(port)},
            )
        return client

    async def _send(self, device_token: str, payload: dict[str, Any], push_id: str):
        from aioapns import NotificationRequest

        if self._client is None:
            self._client = self._make_client()  # inside the loop: aioapns binds to it
        request = NotificationRequest(
            device_token=device_token, message=payload, notification_id=_uuid(push_id)
        )
        return await self._client.send_notification(request)

    def send(self, device_token: str, payload: dict[str, Any], push_id: str) -> SendResult:
        try:
            result = self._loop.run_until_complete(
                asyncio.wait_for(self._send(device_token, payload, push_id), 15)
            )
        except Exception as exc:
            return SendResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if result.is_successful:
            return SendResult(True, 200)
        status = int(result.status) if str(result.status).isdigit() else None
        return SendResult(
            False,
            status,
            f"APNs {result.status}: {result.description}",
            retry=result.description not in DEAD_TOKEN_REASONS,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.pool.close()
        self._loop.close()


def _uuid(hex32: str) -> str:
    """APNs ids are UUID-formatted; ours are 32 hex digits."""
    h = hex32.ljust(32, "0")[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def alert_for(event: str, job: dict[str, Any]) -> dict[str, Any]:
    """The push payload for a job event."""
    name = job.get("filename") or "your video"
    if event == "job.completed":
        title, body = "Your reel is ready", f"The highlights of {name} are ready to watch."
    else:
        title, body = "Could not make a reel", f"{name}: {job.get('error') or 'it failed'}."
    return {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, "job": job}
