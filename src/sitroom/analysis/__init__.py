"""Analyses of stored or supplied series: the epi estimators wired to data.

``series`` turns stored values or a CSV file into daily series; ``runs``
calls the pure estimators of :mod:`sitroom.epi` and returns tables that the
command line (and later the API) print.
"""
