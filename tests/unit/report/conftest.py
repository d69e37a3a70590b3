"""One synthetic home per test module (compiling its module takes a moment)."""

from __future__ import annotations

import pytest
from report_support import Synthetic, build


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    return build(tmp_path_factory.mktemp("report"))
