"""Publication of the situation report: stored editions, what changed, the daily schedule.

``service.publish(context, period)`` builds the report (``sitroom.sitrep``),
renders it in every format and stores an :class:`~sitroom.publication.models.Edition`
with its files, the SHA-256 of the values it was built from (``values``) and
what changed against the period's previous edition (``changes``). Editions
are append-only: the database refuses to change or remove them.
``schedule`` publishes the latest closed period once a day from the server,
one edition a day however many workers run. No web code here.
"""
