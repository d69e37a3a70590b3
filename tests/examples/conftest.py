"""The examples fail on purpose: each one finds a planted bug of the bundled driver.

tests/vm/test_examples.py runs each in a pytest of its own and checks how it
fails (the bug's title, a shrunk program). A run over the whole tree leaves
them alone: an example is collected only when named on the command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    cwd = config.invocation_params.dir
    named = {(cwd / arg.split("::")[0]).resolve() for arg in config.invocation_params.args}
    return collection_path.resolve() not in named
