"""The REST API (FastAPI). Build it with :func:`moments.service.api.app.create_app`."""
