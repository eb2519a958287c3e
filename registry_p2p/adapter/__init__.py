"""Every py-libp2p 0.8.1 workaround, once (DESIGN §8), each in the module named after the
py-libp2p behaviour it handles, each applied by an explicit call: importing this package changes
nothing in py-libp2p. `mount` (registry.py) and `open_node` (node.py) make the calls.

    dialing.py        fast_dial_config, quick_dial_retries, one_connection_per_peer
    dht_values.py     local_dht_value, fresh_get_value
    errors.py         is_stream_closed, is_protocol_unsupported (the one exception classifier)
    identify.py       announce_protocols, request_identify
    inbound_slots.py  count_open_inbound_connections, OpenInboundConnections
    inbound_streams.py gate_inbound_streams
    keys.py           decode_public_key, make_verifier (core's Verifier over py-libp2p's keys)
    logs.py           route_libp2p_logging
    peerstore.py      known_addrs
    ports.py          claim_listen_ports
    pruning.py        trim_connections_periodically, trimming_idle_connections
    pubsub.py         make_gossipsub, message_id, stop_pubsub_thread, cache_advertised_addrs
    routing_table.py  RoutingTableFiller
    secure_writes.py  atomic_secure_writes, make_writes_atomic
    security.py       noise_only
    shutdown.py       close_host
    streams.py        open_stream, only_closed_connections, has_live_connection
    types.py          HostLike, DhtLike, PubsubLike, StreamLike: Protocols, no workaround

Each has a test in tests/net (docs/ARCHITECTURE.md lists which).
"""
