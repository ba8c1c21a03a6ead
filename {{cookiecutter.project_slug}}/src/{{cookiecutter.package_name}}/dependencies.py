"""Dependencies that hand the service's resources to route handlers.

Each resource has one: a test that overrides it (`app.dependency_overrides`) changes what
every handler and every dependency built on it gets. They are `async def` although they
await nothing: FastAPI runs a plain `def` dependency in its thread pool, a hop that costs
more than the lookup itself on every request.
"""

from typing import Annotated

import aiohttp
from fastapi import Depends, Request

from .config import Settings
from .resources import Resources
from .upstream import UpstreamClient


async def get_resources(request: Request) -> Resources:
    """What the app's lifespan opened (resources.py); the same for every request."""
    resources: Resources = request.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings(resources: ResourcesDep) -> Settings:
    """The settings the resources were opened with (those the app was built with)."""
    return resources.settings


async def get_upstream(resources: ResourcesDep) -> UpstreamClient:
    """JSON calls to the upstream through the one session, within the settings' limits (body
    size, retries, deadline)."""
    return resources.get(UpstreamClient)


SettingsDep = Annotated[Settings, Depends(get_settings)]
UpstreamDep = Annotated[UpstreamClient, Depends(get_upstream)]


async def get_http_session(upstream: UpstreamDep) -> aiohttp.ClientSession:
    """The aiohttp session the upstream client calls through, for a call of your own."""
    return upstream.session


HttpSessionDep = Annotated[aiohttp.ClientSession, Depends(get_http_session)]
