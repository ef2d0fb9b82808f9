"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Dataset caches (``data.cache = auto``) go to a temporary folder, never ``~/.cache``."""
    os.environ["MRMP_CACHE"] = str(tmp_path_factory.mktemp("mrmp-cache"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder holding the real ``sbu/`` and ``fpha/`` datasets, or skip the test.

    ``$MRMP_DATA`` when set, else ``<repo>/../shared/data`` when it exists.
    """
    env = os.environ.get("MRMP_DATA")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    pytest.skip("real datasets not found: set MRMP_DATA or place them at ../shared/data")
