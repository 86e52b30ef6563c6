"""The codec server for the Temporal Web UI and CLI: ``POST /codec/decode`` and
``POST /codec/encode`` per Temporal's codec server protocol, so people allowed to may read, in
the UI, the payloads the service compressed (runtime/compression.py: those over 32 KiB) or
encrypted (runtime/encryption.py).

Point the UI at it with ``temporal server start-dev --ui-codec-endpoint http://HOST:PORT/codec``
(or the UI's "Codec Server" setting, or ``TEMPORAL_CODEC_ENDPOINT`` for a self-hosted UI); the UI
adds ``/decode``. The CLI: ``temporal workflow show -w ticket-T-1 --codec-endpoint
http://HOST:PORT/codec --codec-auth "Bearer hdb_…"`` (``/codec/{namespace}`` works too).

Body and answer are the ``Payloads`` message in protobuf JSON: ``{"payloads": [{"metadata":
{"encoding": "<base64>"}, "data": "<base64>"}]}``. The ``X-Namespace`` header, when sent, must
name the namespace this deployment uses: our keys are for our payloads only. The routes are
always there: even with compression and encryption off, payloads written while they were on may
still be in Temporal.

Who may: decoding shows customer data, so only **operator** and **admin** decode; encoding (the UI
starting or signalling a workflow with typed input) is a change, so only **admin**. The caller
is our API token (``Authorization: Bearer hdb_…``: the CLI's ``--codec-auth``, or the UI's
"pass access token" when its access token is one of ours) or, failing that, the signed-in
session of our pages: with the UI's "include cross-origin credentials" on, a browser sends the
session cookie when the UI and the API are the same site (same host, other ports). Browsers may
call it only from the origins in ``HDB_CODEC_CORS_ORIGINS``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from api.context import context_of
from api.pages import read_session
from api.security import Principal, Unauthorized, authenticate, bearer_token
from billing.roles import Role
from runtime.compression import CompressionProblem
from runtime.data_converter import PayloadCodecChain, payload_codec_for
from runtime.encryption import EncryptionProblem
from settings import Settings

DECODE_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})
ENCODE_ROLES = frozenset({Role.ADMIN})
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
PREFLIGHT_MAX_AGE = "600"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a UI batch is an event history page: far smaller

log = logging.getLogger(__name__)


def router_for(settings: Settings) -> APIRouter:
    """The codec routes, with the deployment's codec (runtime/data_converter.py): compression,
    and encryption when ``HDB_ENCRYPTION_KEYS_FILE`` is set.

    The key file is read here, so a bad one stops the API at start."""
    router = APIRouter(prefix="/codec", tags=["codec"])
    # For people to read: a plaintext payload (a workflow from before encryption, or a signal
    # someone sent around it, which the worker refused) is shown as it is.
    codec = payload_codec_for(settings, for_display=True)
    endpoint = _Endpoint(codec, settings.temporal_namespace, frozenset(settings.codec_cors_origins))
    for operation, roles in (("decode", DECODE_ROLES), ("encode", ENCODE_ROLES)):
        run = codec.decode if operation == "decode" else codec.encode
        handler = endpoint.handler(operation, roles, run)
        for route in (f"/{operation}", f"/{{namespace}}/{operation}"):
            router.add_api_route(
                route,
                handler,
                methods=["POST"],
                summary=f"Temporal codec server: {operation} payloads",
                response_class=Response,
            )
            router.add_api_route(
                route, endpoint.preflight, methods=["OPTIONS"], include_in_schema=False
            )
    return router


Run = Callable[[list[Payload]], Awaitable[list[Payload]]]


class _Endpoint:
    def __init__(self, codec: PayloadCodecChain, namespace: str, origins: frozenset[str]) -> None:
        self.codec = codec
        self.namespace = namespace
        self.origins = origins

    def cors(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is None or origin.rstrip("/") not in self.origins:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    async def preflight(self, request: Request) -> Response:
        headers = self.cors(request)
        if "Access-Control-Allow-Origin" not in headers:
            return JSONResponse(
                {"error": "this origin may not call the codec server (HDB_CODEC_CORS_ORIGINS)"},
                status_code=403,
                headers=headers,
            )
        headers |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
        return Response(status_code=204, headers=headers)

    def handler(
        self, operation: str, roles: frozenset[Role], run: Run
    ) -> Callable[[Request], Awaitable[Response]]:
        async def codec_endpoint(request: Request) -> Response:
            cors = self.cors(request)

            def refuse(status: int, message: str, **extra: str) -> JSONResponse:
                return JSONResponse({"error": message}, status_code=status, headers=cors | extra)

            try:
                principal = _caller(request)
            except Unauthorized as error:
                return refuse(401, str(error), **{"WWW-Authenticate": "Bearer"})
            if principal.role not in roles:
                allowed = " or ".join(sorted(roles))
                log.warning(
                    "codec %s refused to %s (%s)", operation, principal.name, principal.role
                )
                return refuse(403, f"only {allowed} may {operation} Temporal payloads")
            namespace = request.headers.get("x-namespace") or request.path_params.get("namespace")
            if namespace and namespace != self.namespace:
                return refuse(400, f"this codec server serves namespace {self.namespace!r} only")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return refuse(413, f"at most {MAX_BODY_BYTES} bytes of payloads per request")
            try:
                payloads = json_format.Parse(body or b"{}", Payloads())
            except json_format.ParseError as error:
                return refuse(
                    400, f'the body must be {{"payloads": [...]}} (protobuf JSON): {error}'
                )
            try:
                result = await run(list(payloads.payloads))
            except (EncryptionProblem, CompressionProblem) as problem:
                return refuse(422, str(problem))
            log.info(
                "codec %s: %d payloads for %s (%s)",
                operation,
                len(result),
                principal.name,
                principal.role,
            )
            return Response(
                json_format.MessageToJson(Payloads(payloads=result), indent=None),
                media_type="application/json",
                headers=cors,
            )

        codec_endpoint.__name__ = f"codec_{operation}"
        return codec_endpoint


def _caller(request: Request) -> Principal:
    """The bearer token's owner; without an Authorization header, the pages' session."""
    authorization = request.headers.get("authorization")
    if authorization:
        return authenticate(context_of(request).engine, bearer_token(authorization))
    session = read_session(request)
    if session is None:
        raise Unauthorized(
            "send 'Authorization: Bearer <API token>' of an operator or admin, or sign in to "
            "the pages first"
        )
    return session.principal
