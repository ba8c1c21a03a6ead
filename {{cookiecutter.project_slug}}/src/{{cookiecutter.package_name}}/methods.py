"""HTTP methods as RFC 9110 has them: HEAD wherever GET is served, and a 405 whose `Allow`
lists every method the path has (FastAPI's names only the first route that matched the path).
"""

from fastapi import Request, status
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What a route may serve; HEAD is not listed: it comes with GET.
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class HeadAsGet:
    """Pure ASGI middleware: a HEAD request is served as the GET of the same path, its answer
    sent without the body (the headers, the length included, are the GET's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        served = {**scope, "method": "GET"}
        try:
            await self.app(served, receive, send_headers_only)
        finally:
            # The route that served it, for the middleware outside (metrics label by it).
            if "route" in served:
                scope["route"] = served["route"]


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app serves at this request's path."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return allowed


async def handle_method_not_allowed(request: Request, _exc: Exception) -> JSONResponse:
    """A 405 that says which methods the path does have."""
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": ", ".join(allowed_methods(request))},
    )
