"""Dependencies that hand the lifespan's resources to route handlers.

They are `async def` although they await nothing: FastAPI runs a plain `def` dependency in
its thread pool, a hop that costs more than the lookup itself on every request.
"""

from typing import Annotated

import aiohttp
from fastapi import Depends, Request

from .config import Settings
from .middleware import Drain
from .upstream import UpstreamClient


async def get_http_session(request: Request) -> aiohttp.ClientSession:
    """The aiohttp session the lifespan opened; shared by every request."""
    http_session: aiohttp.ClientSession = request.state.http_session
    return http_session


async def get_settings(request: Request) -> Settings:
    """The settings the application was built with.

    Overriding this dependency (in a test, say) changes what handlers read, not the session:
    the lifespan opened that from the settings given to `create_app`, so build the app from
    other settings to point it at another upstream.
    """
    settings: Settings = request.state.settings
    return settings


async def get_drain(request: Request) -> Drain:
    """Whether the server has begun to shut down (readiness turns 503 when it has)."""
    drain: Drain = request.state.drain
    return drain


HttpSessionDep = Annotated[aiohttp.ClientSession, Depends(get_http_session)]
DrainDep = Annotated[Drain, Depends(get_drain)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_upstream(http_session: HttpSessionDep, settings: SettingsDep) -> UpstreamClient:
    """JSON calls to the upstream through the shared session, within the settings' limits
    (body size, retries, deadline)."""
    return UpstreamClient(http_session, settings)


UpstreamDep = Annotated[UpstreamClient, Depends(get_upstream)]
