"""The HTTP API of a node (`registry-p2p node --api HOST:PORT`, or `serve(registry, ...)` next to
`mount` in an application of your own): routes under /v1/, /health, an OpenAPI document.

Sits above node.py, next to cli/. `files` (where a node leaves its API address and token) is
standard library only; `serve` and `create_app` load Starlette and hypercorn on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiRefused", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from registry_p2p.api import server

        return getattr(server, name)
    raise AttributeError(name)
