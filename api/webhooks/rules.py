"""Which addresses a webhook may be sent to: public unicast ones only.

Without this rule an integrator could make the delivery worker POST into the service's own
network: to itself, the database's host, the intranet or the cloud's metadata service (which
hands out credentials). The rule judges addresses, not names: the worker resolves a name and
judges every address it gets (``api.webhooks.delivery``).
"""

from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

#: Cloud platforms' instance metadata and platform endpoints. Most are link-local or
#: unique-local anyway; Azure's wire server looks public, so it must be named.
CLOUD_METADATA: frozenset[IPAddress] = frozenset(
    ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle (IPv4)
        "fd00:ec2::254",  # AWS (IPv6)
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
    )
)
_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_NAT64 = IPv6Network("64:ff9b::/96")  # the well-known prefix: the IPv4 address is the last 32 bits


def refusal(address: IPAddress) -> str | None:
    """Return why a webhook must not be sent to ``address``, or ``None`` if it may.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) reaches that IPv4
    host, so that is the address judged.

    Examples
    --------
    >>> refusal(ip_address("93.184.215.14")) is None
    True
    >>> refusal(ip_address("10.1.2.3"))
    '10.1.2.3 is private'
    >>> refusal(ip_address("64:ff9b::a00:1"))  # NAT64
    '64:ff9b::a00:1 reaches 10.0.0.1, which is private'
    """
    reached = _reached(address)
    reason = _kind_refused(reached)
    if reason is None:
        return None
    if reached == address:
        return f"{address} is {reason}"
    return f"{address} reaches {reached}, which is {reason}"


def _reached(address: IPAddress) -> IPAddress:
    """Return the IPv4 host an IPv6 address carries, if it carries one, else the address."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour or address


def _kind_refused(address: IPAddress) -> str | None:
    if address in CLOUD_METADATA:
        return "a cloud metadata address"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, IPv6Address) and address in _UNIQUE_LOCAL, "unique-local"),
        (address.is_private, "private"),
        (not address.is_global or address.is_reserved, "not globally routable"),
    )
    return next((reason for is_refused, reason in checks if is_refused), None)
