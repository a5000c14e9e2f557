"""The HTTP server: a thin FastAPI layer over the same services the command line uses.

``create_app`` builds the application from an :class:`~sitroom.context.AppContext`;
``serve`` runs it under uvicorn. No feature package imports this one.
"""
