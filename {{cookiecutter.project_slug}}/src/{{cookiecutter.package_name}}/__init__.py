"""{{ cookiecutter.project_slug }}: an async FastAPI service."""

__version__ = "{{ cookiecutter.version }}"
