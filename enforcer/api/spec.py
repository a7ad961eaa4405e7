"""The OpenAPI document of the API, as committed in ``docs/openapi.json``.

Built from an app that is never started (no store is opened), so it is the same on every machine;
``python -m enforcer.api.spec > docs/openapi.json`` regenerates it after an API change.
"""

from __future__ import annotations

import json
from typing import Any


def openapi() -> dict[str, Any]:
    from .app import create_app

    def unused() -> Any:
        raise RuntimeError("the spec needs no Context")

    return create_app(unused).openapi()


def render() -> str:
    return json.dumps(openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
