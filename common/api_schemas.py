"""Schemas every API router shares: one `ErrorOut` in the OpenAPI document, not one per app."""

from ninja import Schema


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    """What ninja's request validation answers with (400): the reason and each field's error."""

    detail: str
    errors: list[dict] = []
