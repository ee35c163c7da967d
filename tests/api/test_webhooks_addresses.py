"""Where a webhook may go: the address rule, the resolved and pinned destination, and attempts
refused before any connection. A stub resolves names: no test depends on real DNS."""

import socket
from datetime import UTC, datetime
from ipaddress import ip_address

import httpx
import pytest

from api.webhooks.delivery import destination, post, resolve_host
from api.webhooks.repository import AttemptResult, DueDelivery
from api.webhooks.rules import IPAddress, refusal

PUBLIC = "93.184.215.14"
HOOK = "https://hooks.example.com/in"
REFUSED = {
    "loopback": ["127.0.0.1"],
    "private 10/8": ["10.1.2.3"],
    "cloud metadata": ["169.254.169.254"],
    "IPv6 loopback": ["::1"],
    "IPv4-mapped loopback": ["::ffff:127.0.0.1"],
    "AWS metadata over IPv6": ["fd00:ec2::254"],
    "unique-local": ["fd12:3456::1"],
    "link-local": ["169.254.10.1"],
    "unspecified": ["0.0.0.0"],
    "multicast": ["224.0.0.251"],
    "NAT64 of a private address": ["64:ff9b::a00:1"],
    "6to4 of loopback": ["2002:7f00:1::1"],
    "a public and a loopback address": [PUBLIC, "127.0.0.1"],
}


class StubResolver:
    """Answers every name with the same addresses, and remembers the names it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = [ip_address(a) for a in answers]
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return self.answers


class Unresolvable(StubResolver):
    """A name that does not resolve."""

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def attempt(
    url: str, resolve: StubResolver, **options: bool
) -> tuple[AttemptResult, list[httpx.Request]]:
    """POST one delivery to ``url`` through a transport that records what reaches it."""
    sent: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    due = DueDelivery(1, 1, url, "whsec_test", "ticket.new", "{}", 1)
    with httpx.Client(transport=httpx.MockTransport(receive)) as client:
        result = post(client, due, now=datetime.now(UTC), resolve=resolve, **options)
    return result, sent


@pytest.mark.parametrize(
    "address", [PUBLIC, "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize("answers", REFUSED.values(), ids=REFUSED.keys())
def test_a_name_resolving_inward_is_refused_before_any_connection(answers: list[str]) -> None:
    resolve = StubResolver(*answers)
    result, sent = attempt(HOOK, resolve)
    assert resolve.asked == ["hooks.example.com"]
    assert sent == []
    assert result.status_code is None and not result.is_success
    assert result.error is not None
    assert result.error.startswith("refused, not a public address: hooks.example.com: ")


def test_a_name_that_does_not_resolve_is_a_failed_attempt() -> None:
    result, sent = attempt(HOOK, Unresolvable())
    assert sent == [] and result.status_code is None
    assert result.error is not None and result.error.startswith("DNS: hooks.example.com")


def test_the_connection_goes_to_the_checked_address_as_the_name() -> None:
    resolve = StubResolver(PUBLIC, "2606:4700::1111")
    result, [request] = attempt("https://hooks.example.com:8443/in?v=1", resolve)
    assert result.is_success and resolve.asked == ["hooks.example.com"]  # resolved once
    assert request.url == httpx.URL(f"https://{PUBLIC}:8443/in?v=1")
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"  # TLS checks the name


def test_an_ipv6_address_and_an_international_name_are_pinned_as_dns_and_tls_take_them() -> None:
    pinned = destination("https://bücher.example/in", resolve=StubResolver("2606:4700::1111"),
                         allow_private=False)  # fmt: skip
    assert str(pinned.url) == "https://[2606:4700::1111]/in"
    assert pinned.headers == {"Host": "xn--bcher-kva.example"}
    assert pinned.extensions == {"sni_hostname": "xn--bcher-kva.example"}


def test_an_address_in_the_url_is_judged_without_resolving() -> None:
    resolve = StubResolver(PUBLIC)
    result, sent = attempt("http://[::ffff:169.254.169.254]/latest/meta-data", resolve)
    assert resolve.asked == [] and sent == []
    assert result.error is not None and "169.254.169.254" in result.error


def test_the_development_setting_lets_private_addresses_through() -> None:
    result, [request] = attempt(HOOK, StubResolver("127.0.0.1"), allow_private=True)
    assert result.is_success and request.url.host == "127.0.0.1"


def test_the_system_resolver_answers_addresses() -> None:
    """``localhost`` comes from the hosts file, not DNS."""
    addresses = resolve_host("localhost", 443)
    assert addresses and all(address.is_loopback for address in addresses)
