"""The situation report: a typed context of sections built from the services, in four formats.

``build.build_report(context, period)`` makes the :class:`~sitroom.sitrep.model.Report`;
``render.write(report, fmt, path)`` writes it as HTML, PDF, Markdown or JSON;
``charts`` holds the Vega-Lite definitions the dashboard shares; a feature adds
a section with ``sections.section`` (see docs/sitrep.md). Nothing heavy is
imported here.
"""
