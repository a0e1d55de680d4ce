"""SHA-256, the one digest of the delivery and publication manifests (source systems, ingest,
raw rewrites, publication): files read in blocks, or bytes already in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, without holding the file in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes in memory (a raw file being rewritten)."""
    return hashlib.sha256(data).hexdigest()
