"""An async FastAPI service."""

__version__ = "{{ cookiecutter.version }}"
