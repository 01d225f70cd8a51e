"""Shared pytest configuration. Reference-data helpers live in tests/reference_data.py."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def project_root():
    return ROOT
