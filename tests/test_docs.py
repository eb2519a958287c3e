"""The docs a user reads point only inside the repository, at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "protocols" / "INTEROP-CONTRACT.md"]
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}


def test_docs_never_send_users_outside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text and "research/" not in text, f"{doc.name} points outside the repository"


def test_paths_named_in_the_docs_exist() -> None:
    for doc in DOCS:
        for path in re.findall(r"`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`", doc.read_text()):
            first = path.split("/")[0]
            if first not in TOP or any(ch in path for ch in "<>*"):
                continue  # not a path of this repository (a multiaddr, a DHT key, a glob)
            assert (ROOT / path.rstrip("/")).exists(), f"{doc.name} names {path}, which does not exist"
