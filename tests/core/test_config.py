"""Configuration from TOML-shaped mappings: every error names the offending key."""

from __future__ import annotations

import tomllib

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair

from registry_p2p.core.config import RegistryConfig, config_from_mapping
from registry_p2p.core.ids import b58
from registry_p2p.core.signing import peer_id_bytes_of

PEER = b58(peer_id_bytes_of(create_new_key_pair(b"\x09" * 32).private_key))


def test_full_document() -> None:
    doc = tomllib.loads(
        f"""
        [registry]
        request_timeout_s = 3
        replicate_interval_s = 120.5
        [limits]
        replica_set_size = 7
        max_value_bytes = 1024
        [host]
        policy = "allow-list"
        allowed_issuers = ["{PEER}"]
        [trust]
        "{PEER}" = 5
        [node]
        anything = "belongs to the CLI"
        """
    )
    config = config_from_mapping(doc)
    assert config.request_timeout_s == 3.0 and config.replicate_interval_s == 120.5
    assert config.limits.replica_set_size == 7 and config.limits.max_value_bytes == 1024
    assert config.host_policy == "allow-list"
    assert config.allowed_issuers == frozenset({peer_id_bytes_of(create_new_key_pair(b"\x09" * 32).private_key)})
    assert config.weight(next(iter(config.allowed_issuers))) == 5
    assert config.weight(b"other") == 0


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"registry": {"request_timeout": 3}}, "registry.request_timeout"),
        ({"registry": {"request_timeout_s": "fast"}}, "registry.request_timeout_s"),
        ({"limits": {"max_value": 1}}, "limits.max_value"),
        ({"limits": {"max_value_bytes": 1.5}}, "limits.max_value_bytes"),
        ({"host": {"policy": 3}}, "host.policy"),
        ({"host": {"allowed_issuers": ["nope"]}}, "host.allowed_issuers"),
        ({"host": {"mode": "open"}}, "host.mode"),
        ({"trust": {"not-a-peer": 1}}, "trust.not-a-peer"),
        ({"trust": {PEER: "high"}}, f"trust.{PEER}"),
        ({"limits": "x"}, "[limits]"),
    ],
)
def test_errors_name_the_key(doc: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=key.replace("[", r"\[").replace("]", r"\]")):
        config_from_mapping(doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"host": {"policy": "everyone"}},
        {"limits": {"min_ttl_s": 100, "default_ttl_s": 50}},
        {"limits": {"replica_set_size": 0}},
        {"registry": {"jitter": 1.5}},
        {"registry": {"gc_interval_s": 0}},
    ],
)
def test_inconsistent_values_are_refused(doc: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match="invalid configuration"):
        config_from_mapping(doc)


def test_defaults_are_valid() -> None:
    RegistryConfig().check()
