"""Walking the config's pydantic models (shared by the docs and the ranges tests)."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel


def models_in(annotation: object) -> list[type[BaseModel]]:
    """Pydantic models inside an annotation (X, X | None, list[X], dict[str, X])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) is typing.Annotated:
        return models_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict, tuple):
        return [m for arg in typing.get_args(annotation) for m in models_in(arg)]
    return []
