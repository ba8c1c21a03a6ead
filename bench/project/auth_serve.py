"""`python -m my_service` with one route more, to measure what checking a bearer token costs:

    python -m bench.project.auth_serve

`GET /bench/open/items/{item_id}` is the template's `GET /items/{item_id}`, the same handler in
the same router (`routes.items.router`), mounted once more without `guarded`: no bearer
token read, no key looked up, no signature checked. Everything else is what `python -m
my_service` serves with auth=jwt: the same app, middleware, server and settings (the issuer's
keys fetched when it starts, the upstream's token as the settings say); the route is added to
the routers the app mounts (routes/__init__.py), as a user adds one.
"""

from fastapi import APIRouter
from my_service.routes import items

from .serve import serve_with

router = APIRouter(prefix="/bench/open")
router.include_router(items.router)


def main() -> None:
    """Serve as `python -m my_service` does, the route above among the app's."""
    serve_with(router)


if __name__ == "__main__":
    main()
