"""Where webhooks may go (issue 16): no private or internal address, at registration and at
every delivery, whatever the name resolves to by then (DNS rebinding).

Names are resolved by a resolver the test controls (:class:`SteeredDns`, handed to the
sender): no real DNS server can be steered from a test. Everything else is real: the app under
uvicorn, the outbox thread, httpx and sockets, and HTTP(S) receivers listening on loopback.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from moments.service.notify.webhooks import (
    BLOCKED_SENTENCE,
    WebhookSender,
    check_url,
    embedded_ipv4,
    is_public_address,
    system_resolver,
)
from tests.helpers import wait_for

from .auth_helpers import client_for, sign_up
from .test_webhooks import Receiver

PUBLIC = "93.184.216.34"


class SteeredDns:
    """A resolver whose answers the test sets, and which records what it was asked."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): list(a) for name, a in answers.items()}
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no such name: {host}")
        return list(self.answers[host])


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for r in made:
        r.close()


# -- the address classifier ------------------------------------------------------------------

NOT_PUBLIC = [
    # IPv4: loopback, private, shared (CGNAT), link-local, multicast, reserved, broadcast,
    # unspecified, documentation and benchmarking ranges
    "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
    "169.254.169.254", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "0.0.0.0", "192.0.2.1", "198.18.0.1", "192.0.0.8",
    # IPv6: loopback, unspecified, link-local, unique local, site-local, multicast, docs
    "::1", "::", "fe80::1", "fe80::1%1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
    "ff0e::1", "2001:db8::1",
    # IPv4-mapped and IPv4-compatible forms of loopback and private addresses
    "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "::7f00:1",
    # NAT64: the well-known prefix around a private address, and the local-use prefix
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808",
    "64:ff9b:1:7f00:0:100::",
    # 6to4 around loopback / private / link-local IPv4
    "2002:7f00:1::", "2002:7f00:1::1", "2002:a00:1::1", "2002:c0a8:101::1", "2002:a9fe:a9fe::",
    # Teredo with a private server or an obfuscated loopback client (~127.0.0.1 = 80ff:fffe)
    "2001:0:a00:1::1", "2001:0:808:808:0:0:80ff:fffe", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    # not addresses at all
    "localhost", "", "1.2.3", "12345678",
]  # fmt: skip

PUBLIC_ADDRESSES = [
    "8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80e::200e",
    "::ffff:8.8.8.8",  # mapped public IPv4
    "64:ff9b::808:808",  # DNS64 answer for a public IPv4-only host
    "2002:808:808::1",  # 6to4 around a public IPv4
]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_a_webhook_may_not_reach(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_stay_allowed(address):
    assert is_public_address(address)


def test_the_ipv4_inside_each_ipv6_form_is_found():
    def inside(text: str) -> list[str] | None:
        found = embedded_ipv4(ipaddress.IPv6Address(text))
        return None if found is None else [str(a) for a in found]

    assert inside("::ffff:7f00:1") == ["127.0.0.1"]
    assert inside("64:ff9b::7f00:1") == ["127.0.0.1"]
    assert inside("2002:7f00:1::1") == ["127.0.0.1"]
    assert inside("2001:0:a00:1:0:0:80ff:fffe") == ["10.0.0.1", "127.0.0.1"]  # server, client
    assert inside("2606:4700:4700::1111") is None


# -- registration ----------------------------------------------------------------------------


def test_registration_refuses_names_resolving_to_any_private_address():
    dns = SteeredDns(
        public_test=[PUBLIC],
        mixed_test=[PUBLIC, "10.0.0.7"],  # one bad address among good ones is enough
        mapped_test=["::ffff:127.0.0.1"],
        nat64_test=["64:ff9b::7f00:1"],
        sixtofour_test=["2002:7f00:1::1"],
    )
    assert check_url("https://public.test/hook", False, dns) is None
    for name in ("mixed", "mapped", "nat64", "sixtofour"):
        why = check_url(f"https://{name}.test/hook", False, dns)
        assert why is not None and "not public" in why, name
    unknown = check_url("https://unknown.test/hook", False, dns)
    assert unknown == "the host 'unknown.test' does not resolve"
    # Literal addresses in every spelling (the system resolver reads the numeric ones itself).
    for literal in ("http://[::ffff:127.0.0.1]:9/", "http://[64:ff9b::a9fe:a9fe]/",
                    "http://0x7f000001/", "http://2130706433/", "http://127.1/",
                    "http://0177.0.0.1/", "http://[::1]/"):  # fmt: skip
        why = check_url(literal, False, system_resolver)
        assert why in ("its host resolves to an address that is not public",
                       "the URL is not a valid URL"), (literal, why)  # fmt: skip


@pytest.mark.parametrize(
    "url", ["http://1.1.1.1:80:18999/h", "http://example.com:99999/h", "http://[::1/h", "http://"]
)
def test_malformed_webhook_urls_are_a_422_problem_not_a_500(settings, start_api, url):
    api = start_api(settings.model_copy(update={"auth_mode": "accounts"}))
    client = client_for(api, sign_up(api, "urls@example.com")["access_token"])
    response = client.post("/api/v1/webhooks", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:moments:problem:bad-webhook-url"


# -- delivery: DNS rebinding -------------------------------------------------------------------


def test_a_name_rebound_to_loopback_after_registration_is_not_called(
    settings, start_api, receivers
):
    """Public when registered, 127.0.0.1 when the job ends: the loopback server listening on
    the URL's port gets nothing, and the owner's delivery log says so in a plain sentence.

    The name is ``localhost`` so that a sender resolving again by itself (through the system)
    would really reach the listening server."""
    api = start_api(
        settings.model_copy(
            update={"auth_mode": "accounts", "webhook_allow_private": False,
                    "outbox_interval": 0.05, "webhook_max_attempts": 3,
                    "webhook_backoff_seconds": 0.05}
        )
    )  # fmt: skip
    sender = api.server.config.app.state.accounts.outbox.webhooks
    dns = SteeredDns(localhost=[PUBLIC])
    sender.resolve = dns
    target = receivers()
    url = target.url.replace("127.0.0.1", "localhost")

    tokens = sign_up(api, "rebind@example.com")
    client = client_for(api, tokens["access_token"])
    created = client.post("/api/v1/webhooks", json={"url": url})
    assert created.status_code == 201, created.text
    assert dns.asked == ["localhost"]  # checked at registration, through the same resolver
    hook = created.json()

    dns.answers["localhost"] = ["127.0.0.1"]  # the rebinding
    store = api.services.store
    job = store.create(input_key="k", filename="x.mp4", input_size=1, options={},
                       owner_id=tokens["user"]["id"])  # fmt: skip
    store.fail(job.id, "bad")

    def logged():
        log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
        return log if log and log[0]["status"] != "pending" else None

    log = wait_for(logged, 20, "the delivery to end")
    assert target.requests == []
    assert log[0]["status"] == "failed"
    assert dns.asked == ["localhost", "localhost"]  # resolved again at delivery, once
    entry = log[0]
    assert entry["attempts"] == 1  # refused, not retried
    assert entry["last_error"] == BLOCKED_SENTENCE
    assert "last_status_code" not in entry
    assert "127.0.0.1" not in json.dumps(entry)


@pytest.mark.parametrize("answer", ["127.0.0.1", "::ffff:127.0.0.1", "::1"])
def test_the_sender_refuses_each_rebinding_answer_before_connecting(receivers, answer):
    target = receivers()
    port = target.server.server_address[1]
    dns = SteeredDns(hooks_example_test=[PUBLIC, answer])
    sender = WebhookSender(5, resolve=dns)
    try:
        result = sender.send(f"http://hooks.example.test:{port}/hook", "whsec_x", "job.failed",
                             "d1", {"x": 1})  # fmt: skip
    finally:
        sender.close()
    assert not result.ok and not result.retry
    assert result.shown == BLOCKED_SENTENCE and result.status_code is None
    assert target.requests == []


def test_the_sender_connects_to_the_address_it_checked_and_keeps_the_name(receivers):
    """With private targets allowed (one-machine setups), the connection still goes to the
    address resolved for this delivery; the Host header keeps the URL's name. The name is not
    in any real DNS, so only the resolver's answer can have been used."""
    target = receivers()
    port = target.server.server_address[1]
    dns = SteeredDns(hooks_example_test=["127.0.0.1"])
    sender = WebhookSender(5, allow_private=True, resolve=dns)
    try:
        url = f"http://hooks.example.test:{port}/hook"
        first = sender.send(url, "whsec_x", "job.completed", "d1", {"n": 1})
        second = sender.send(url, "whsec_x", "job.completed", "d2", {"n": 2})
    finally:
        sender.close()
    assert first.ok and second.ok
    assert dns.asked == ["hooks.example.test", "hooks.example.test"]  # once per delivery
    assert [h["Host"] for _, h, _ in target.requests] == [f"hooks.example.test:{port}"] * 2


def test_redirects_are_not_followed(receivers):
    inner = receivers()

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", inner.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sender = WebhookSender(5, allow_private=True)
    try:
        result = sender.send(f"http://127.0.0.1:{server.server_address[1]}/h", "whsec_x",
                             "job.completed", "d1", {})  # fmt: skip
    finally:
        sender.close()
        server.shutdown()
        server.server_close()
    assert not result.ok and result.shown == "The receiver did not accept the notification."
    assert inner.requests == []


# -- https: the checked address, the URL's name for SNI and the certificate --------------------


def _certificate_for(name: str, folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``name`` signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moments test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_https_uses_the_urls_name_for_sni_and_the_certificate(receivers, tmp_path):
    name = "hooks.example.test"
    ca, cert, key = _certificate_for(name, tmp_path)
    target = receivers()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_context.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)
    target.server.socket = server_context.wrap_socket(target.server.socket, server_side=True)
    port = target.server.server_address[1]
    trust = ssl.create_default_context(cafile=str(ca))

    sender = WebhookSender(5, allow_private=True, verify=trust,
                           resolve=SteeredDns(hooks_example_test=["127.0.0.1"]))  # fmt: skip
    wrong = WebhookSender(5, allow_private=True, verify=trust,
                          resolve=SteeredDns(other_example_test=["127.0.0.1"]))  # fmt: skip
    try:
        ok = sender.send(f"https://{name}:{port}/hook", "whsec_x", "job.completed", "d1", {})
        # The same address under a name the certificate is not for: verification fails.
        refused = wrong.send(f"https://other.example.test:{port}/hook", "whsec_x",
                             "job.completed", "d2", {})  # fmt: skip
    finally:
        sender.close()
        wrong.close()
    assert ok.ok, ok.error
    assert sni[0] == name
    assert not refused.ok and "certificate" in (refused.error or "").lower()
    assert refused.shown == "The receiver could not be reached."
    assert len(target.requests) == 1
