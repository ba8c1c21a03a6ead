"""The service's tables, as SQLAlchemy models: the single source of truth for the migrations.

Import each model module here, so that `Base.metadata` knows every table wherever the models
are imported (the migrations and their tests import this package).
"""
{%- if cookiecutter.include_example_route %}

from .note import Note

__all__ = ["Note"]
{%- endif %}
