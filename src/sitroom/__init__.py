"""sitroom: an outbreak situation room.

The package is organised in feature packages (``places``, ``surveillance``) over a
small core (``config``, ``db``, ``errors``); the command line in ``cli`` is a thin
layer over the services.
"""

__version__ = "0.1.0"
