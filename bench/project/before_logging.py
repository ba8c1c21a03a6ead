"""The template's service as it was before its logging, to measure what the logging costs.

`create_before_logging_app` is the generated app without the request-id middleware, with
uvicorn's own log set-up put back (plain text lines, its access line included) in place of
the app's. The session still sends the request id, a no-op outside a request's context: one
callback per upstream call, counted against this variant. Serve it inside the default
project's environment: `uvicorn bench.project.before_logging:create_before_logging_app --factory`.
"""

import logging
import logging.config
from typing import cast

from fastapi import FastAPI
from my_service.app import create_app
from my_service.request_id import RequestId
from uvicorn.config import LOGGING_CONFIG


def create_before_logging_app() -> FastAPI:
    """The app with no request id and uvicorn's logging."""
    app = create_app()
    app.user_middleware = [
        entry for entry in app.user_middleware if cast(object, entry.cls) is not RequestId
    ]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logging.config.dictConfig(LOGGING_CONFIG)
    return app
