"""The Moments web service: settings, job database, storage, workers and (in ``api``) the REST API.

The engine is used only through :mod:`moments.engine`'s public names; nothing here knows how a
reel is made.
"""
