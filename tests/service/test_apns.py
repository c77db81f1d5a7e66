"""APNs pushes through aioapns, against a local HTTP/2 stand-in.

Apple's servers cannot be reached from here, so a small HTTP/2 server on loopback (TLS with a
self-signed certificate, ALPN h2) plays APNs: it checks the provider token (ES256 JWT signed
with our .p8 key: key id, team id), the topic and the path, and answers like Apple does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
import threading
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moments.service.notify.apns import APNsSender
from tests.helpers import wait_for

TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY1234567", "com.example.moments"
DEAD = "dead" * 16


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeAPNs:
    """The stand-in server; ``pushes`` holds what it accepted or refused.

    Written on h2 directly (the HTTP/2 library aioapns itself uses) so each answer goes out the
    way Apple sends it: HEADERS, then the JSON reason in one DATA frame that ends the stream.
    """

    def __init__(self, folder: Path, provider_public_key):
        self.cert, self.key = _self_signed(folder)
        self.public_key = provider_public_key
        self.pushes: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._started.wait(10), "the APNs stand-in did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.cert, self.key)
        tls.set_alpn_protocols(["h2"])
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._started.set()
        self._loop.run_forever()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, dict] = {}
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    streams[event.stream_id] = {"headers": headers, "body": b""}
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id]["body"] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self._answer(conn, event.stream_id, streams.pop(event.stream_id))
            writer.write(conn.data_to_send())
            await writer.drain()
        writer.close()

    def _answer(self, conn, stream_id: int, request: dict) -> None:
        headers = request["headers"]
        token = headers.get("authorization", "").removeprefix("bearer ")
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"])
            kid = jwt.get_unverified_header(token)["kid"]
            authorised = claims["iss"] == TEAM and kid == KEY_ID
        except jwt.PyJWTError:
            authorised = False
        device = headers[":path"].removeprefix("/3/device/")
        self.pushes.append(
            {
                "method": headers[":method"],
                "device": device,
                "headers": headers,
                "payload": json.loads(request["body"] or b"{}"),
                "authorised": authorised,
            }
        )
        if not authorised:
            status, reason = 403, "InvalidProviderToken"
        elif headers.get("apns-topic") != TOPIC:
            status, reason = 400, "TopicDisallowed"
        elif device == DEAD:
            status, reason = 410, "Unregistered"
        else:
            status, reason = 200, None
        apns_id = headers.get("apns-id", "x")
        conn.send_headers(
            stream_id,
            [(":status", str(status)), ("apns-id", apns_id)],
            end_stream=reason is None,
        )
        if reason is not None:
            conn.send_data(stream_id, json.dumps({"reason": reason}).encode(), end_stream=True)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def provider_key(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / f"AuthKey_{KEY_ID}.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key.public_key()


@pytest.fixture
def fake_apns(tmp_path, provider_key):
    server = FakeAPNs(tmp_path, provider_key[1])
    yield server
    server.close()


def _apns_settings(settings, provider_key, fake_apns, **extra):
    return settings.model_copy(
        update={
            "apns_key_file": provider_key[0],
            "apns_key_id": KEY_ID,
            "apns_team_id": TEAM,
            "apns_topic": TOPIC,
            "apns_server": f"127.0.0.1:{fake_apns.port}",
            "apns_ca_file": fake_apns.cert,
            "outbox_interval": 0.05,
            **extra,
        }
    )


def test_sender_pushes_over_http2_with_a_provider_token(settings, provider_key, fake_apns):
    sender = APNsSender.from_settings(_apns_settings(settings, provider_key, fake_apns))
    assert sender is not None
    try:
        ok = sender.send("ab" * 32, {"aps": {"alert": "hi"}}, "f" * 32)
        assert ok.ok, ok.error
        dead = sender.send(DEAD, {"aps": {"alert": "hi"}}, "e" * 32)
        assert not dead.ok and not dead.retry and "Unregistered" in dead.error
    finally:
        sender.close()
    first = fake_apns.pushes[0]
    assert first["method"] == "POST" and first["authorised"]
    assert first["device"] == "ab" * 32 and first["headers"]["apns-topic"] == TOPIC
    assert first["payload"] == {"aps": {"alert": "hi"}}


def test_wrong_key_is_refused_by_the_stand_in(settings, tmp_path, provider_key, fake_apns):
    other = tmp_path / "other.p8"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sender = APNsSender.from_settings(_apns_settings(settings, (other, None), fake_apns))
    try:
        refused = sender.send("ab" * 32, {"aps": {}}, "d" * 32)
    finally:
        sender.close()
    assert not refused.ok and "InvalidProviderToken" in refused.error


def test_completed_job_pushes_to_the_owners_device(settings, start_api, provider_key, fake_apns):
    api = start_api(_apns_settings(settings, provider_key, fake_apns))
    device = api.client.post("/api/v1/devices", json={"token": "cd" * 32})
    assert device.status_code == 201
    store = api.services.store
    job = store.create(input_key="k", filename="surf.mov", input_size=1, options={},
                       owner_id=api.user_id)  # fmt: skip
    store.fail(job.id, "could not decode the video")
    wait_for(lambda: fake_apns.pushes, 20, "the push")
    push = fake_apns.pushes[0]
    assert push["device"] == "cd" * 32 and push["authorised"]
    assert push["payload"]["aps"]["alert"]["title"] == "Could not make a reel"
    assert "surf.mov" in push["payload"]["aps"]["alert"]["body"]
    assert push["payload"]["job"]["id"] == job.id
