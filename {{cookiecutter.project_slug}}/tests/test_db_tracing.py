"""Database statements traced: client spans inside the request's server span."""

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from {{ cookiecutter.package_name }}.db import DbSessionDep
from {{ cookiecutter.package_name }}.tracing import Tracing

from .support import Serve

STATEMENT = "SELECT 41 + 1"


async def test_a_statement_is_a_span_of_its_request(app: FastAPI, serve: Serve) -> None:
    @app.get("/probe/query")
    async def query(session: DbSessionDep) -> int:
        result: int = (await session.execute(text(STATEMENT))).scalar_one()
        return result

    exporter = InMemorySpanExporter()
    async with serve(app) as client:
        client.resources.get(Tracing).provider.add_span_processor(SimpleSpanProcessor(exporter))
        response = await client.get("/probe/query")
    assert response.json() == 42
    finished = exporter.get_finished_spans()
    (server,) = [span for span in finished if span.kind == SpanKind.SERVER]
    (statement,) = [
        span for span in finished if (span.attributes or {}).get("db.query.text") == STATEMENT
    ]
    assert statement.kind == SpanKind.CLIENT
    assert statement.name.startswith("SELECT ")
    assert statement.context.trace_id == server.context.trace_id
    assert (statement.attributes or {})["db.system.name"] == "postgresql"
