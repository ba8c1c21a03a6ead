"""The template's service as it was before its logging, to measure what the logging costs.

`create_before_logging_app` is the generated app without the request-id middleware, with
uvicorn's own log set-up put back (plain text lines, its access line included) in place of
the app's. The session still sends the request id, a no-op outside a request's context: one
callback per upstream call, counted against this variant. Serve it inside the default
project's environment: `uvicorn bench.variant_obs_apps:create_before_logging_app --factory`.
"""

import importlib
import logging
import logging.config

from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

# The rendered project's package, importable where this runs (not where it is type-checked).
PACKAGE = "my_service"


def create_before_logging_app() -> FastAPI:
    """The app with no request id and uvicorn's logging."""
    app: FastAPI = importlib.import_module(f"{PACKAGE}.app").create_app()
    request_id = importlib.import_module(f"{PACKAGE}.middleware").RequestId
    app.user_middleware = [entry for entry in app.user_middleware if entry.cls is not request_id]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logging.config.dictConfig(LOGGING_CONFIG)
    return app
