"""net/dns: /dns4, /dns6 and /dns addresses resolved to IP addresses, bounded, with clear errors.
Only names that never leave the machine: localhost (/etc/hosts) and the reserved .invalid domain."""

from __future__ import annotations

import pytest
import trio
from multiaddr import Multiaddr

from registry_p2p.net.dns import DnsError, dns_name, resolve_addr, resolve_addrs

PEER = "12D3KooWP8VaqsaSjvKEJnYNd7CfwmAGsNWhVePqj8neeTFdwA5P"


def test_dns_name() -> None:
    assert dns_name(Multiaddr(f"/dns4/seed.example/tcp/4600/p2p/{PEER}")) == ("dns4", "seed.example")
    assert dns_name(Multiaddr("/dns6/seed.example/tcp/4600")) == ("dns6", "seed.example")
    assert dns_name(Multiaddr("/ip4/127.0.0.1/tcp/4600")) is None


async def test_localhost_resolves_keeping_the_rest_of_the_address() -> None:
    addrs = await resolve_addr(Multiaddr(f"/dns4/localhost/tcp/4600/p2p/{PEER}"))
    assert Multiaddr(f"/ip4/127.0.0.1/tcp/4600/p2p/{PEER}") in addrs
    assert all(str(a).startswith("/ip4/") and str(a).endswith(f"/tcp/4600/p2p/{PEER}") for a in addrs)


async def test_ip_addresses_are_left_as_they_are() -> None:
    addr = Multiaddr("/ip4/10.0.0.7/tcp/4600")
    assert await resolve_addr(addr) == [addr]


async def test_invalid_names_fail_without_asking_anyone() -> None:
    with trio.fail_after(1):  # refused before any lookup (RFC 6761)
        with pytest.raises(DnsError, match=r"cannot resolve /dns4/seed\.example\.invalid/tcp/4600: .*reserved"):
            await resolve_addr(Multiaddr("/dns4/seed.example.invalid/tcp/4600"))


async def test_one_resolvable_address_is_enough() -> None:
    addrs = [Multiaddr("/dns4/a.invalid/tcp/1"), Multiaddr("/dns4/localhost/tcp/2")]
    assert Multiaddr("/ip4/127.0.0.1/tcp/2") in await resolve_addrs(addrs)
    with pytest.raises(DnsError, match=r"a\.invalid"):
        await resolve_addrs(addrs[:1])


async def test_a_node_connects_through_a_dns4_address() -> None:
    from registry_p2p.node import open_node

    async with open_node() as a, open_node() as b:
        port = a.addrs[0].split("/")[4]
        with trio.fail_after(15):
            await b.connect(f"/dns4/localhost/tcp/{port}/p2p/{a.peer_id}")
        assert a.host.get_id() in b.host.get_connected_peers()


async def test_a_resolver_that_does_not_answer_in_time_is_given_up() -> None:
    # A deadline already past: the lookup (in a worker thread) is abandoned at its first checkpoint.
    with trio.fail_after(5):
        with pytest.raises(DnsError, match=r"cannot resolve /dns4/localhost/tcp/1: no answer within 0 s"):
            await resolve_addr(Multiaddr("/dns4/localhost/tcp/1"), timeout=0)
