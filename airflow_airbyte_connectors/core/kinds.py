"""The two kinds of connector definition, and how Airbyte's API names their fields.

Imported by the DAG file's operator at parse time: no dependencies.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["source", "destination"]
KINDS: tuple[Kind, ...] = ("source", "destination")


def id_key(kind: Kind) -> str:
    """``sourceDefinitionId`` / ``destinationDefinitionId``."""
    return f"{kind}DefinitionId"


def list_key(kind: Kind) -> str:
    """``source_definitions`` / ``destination_definitions``: basic_config's lists."""
    return f"{kind}_definitions"
