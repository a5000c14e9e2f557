"""The medical supply chain (issue #11): items and protocols, the facility network, the
append-only stock ledger, distribution orders, dispensing, indicators, demand, allocation
and the detection of hoarding and diversion.

Pure numeric code (``demand``, ``allocation``, ``detection``, ``simulate``) works on
arrays and plain rows and never touches the database, like :mod:`sitroom.epi`; the
services over the database use it.
"""
