"""Shared fixtures. Tests that need ../shared/real_plates skip, naming why, when it is absent."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from lpr_lib.repro import REPO_ROOT, SHARED_REAL  # noqa: E402

DATA_SAMPLES = REPO_ROOT / "data_samples"


@pytest.fixture(scope="session")
def real_plates() -> Path:
    """The folder of real photographs; skips the test when it is not beside the project."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent: real photographs are not shipped with the project")
    return SHARED_REAL


@pytest.fixture(scope="session")
def data_samples() -> Path:
    return DATA_SAMPLES
