import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hooks"


@pytest.fixture
def payload():
    """Load a detector payload fixture: ``payload("fastnetmon/ban_incoming.json")``."""

    def load(name: str):
        path = FIXTURES / name
        return json.loads(path.read_text()) if path.suffix == ".json" else path.read_text()

    return load
