"""Shared fixtures. Keys used by tests are made at run time, never stored in git."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def master_key_hex(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh random master key in the environment, as the pipeline expects it."""
    key = os.urandom(32).hex()
    monkeypatch.setenv("PIPELINE_MASTER_KEY", key)
    monkeypatch.delenv("PIPELINE_MASTER_KEY_FILE", raising=False)
    return key
