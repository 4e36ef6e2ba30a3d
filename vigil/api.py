"""Vigil's JSON API (/api/v1/), with its OpenAPI document at /api/v1/openapi.json.

Authentication: `Authorization: Bearer <personal API token>` (created on the profile page).
Each app contributes a Router from its own api.py; the permission rules are teams.access's.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import HttpBearer

from accounts.tokens import api_token_authenticate
from common.api_schemas import ErrorOut, ValidationErrorOut


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request, token):
        user = api_token_authenticate(token)
        if user is None:
            return None
        request.user = user
        return user


# Answers any operation may give besides its own: documented on every operation, so clients
# and the OpenAPI document agree (the body-size limit's 413 only where a body is taken).
_COMMON_ANSWERS = {
    "400": "The request is invalid: the reason, and each field's error where there is one.",
    "401": "A valid API token is required (Authorization: Bearer …).",
}


class VigilAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ValidationErrorOut", ValidationErrorOut.model_json_schema())
        schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())

        def answer(description, name):
            return {
                "description": description,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }

        for operations in document["paths"].values():
            for operation in operations.values():
                responses = operation["responses"]
                responses.setdefault("400", answer(_COMMON_ANSWERS["400"], "ValidationErrorOut"))
                responses.setdefault("401", answer(_COMMON_ANSWERS["401"], "ErrorOut"))
                if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                    responses.setdefault(
                        "404", answer("Not found, or not yours to see.", "ErrorOut")
                    )
                if "requestBody" in operation:
                    responses.setdefault("413", answer("The body is too large.", "ErrorOut"))
        return document


api = VigilAPI(
    title="Vigil API",
    version="1",
    urls_namespace="api",
    auth=ApiTokenAuth(),
    docs_url="/docs",
)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return api.create_response(
        request,
        {"detail": "A valid API token is required (Authorization: Bearer …)."},
        status=401,
    )


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Not allowed."}, status=403)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    return api.create_response(
        request, {"detail": "Invalid request.", "errors": exc.errors}, status=400
    )


api.add_router("/incidents", "incidents.api.router")
api.add_router("", "oncall.api.router")  # /oncall/now, /schedules/{id}/shifts
api.add_router("/paging", "paging.api.router")
api.add_router("/postmortems", "postmortems.api.router")
api.add_router("/runbooks", "runbooks.api.router")
api.add_router("/reports", "reports.api.router")
api.add_router("", "changes.api_advice.router")
api.add_router("", "changes.api.router")  # /changes, /incidents/{id}/changes
