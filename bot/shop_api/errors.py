"""The shop API's error shape: `{"error": {"code", "message", "field"}}`."""

from __future__ import annotations

from flask import Response, jsonify


class ApiError(Exception):
    """A client error answered as `{"error": {"code", "message", "field"}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def response(self) -> Response:
        """The JSON response for this error."""
        body = jsonify(error={"code": self.code, "message": self.message, "field": self.field})
        body.status_code = self.status
        return body


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """A JSON error response without raising."""
    return ApiError(status, code, message, field).response()
