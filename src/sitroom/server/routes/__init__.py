"""The server's routes, one module a feature."""
