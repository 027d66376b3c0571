from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def load_vectors() -> list[dict]:
    return [json.loads(line) for line in (DATA / "oms_examples.jsonl").read_text().splitlines() if line.strip()]


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing, unless CI asked for it to be a failure (MeterdRequireServices=1)."""
    if os.environ.get("METERD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required in CI but unavailable: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")
