"""The situation report in its four formats: HTML, PDF, Markdown and JSON.

HTML is one self-contained file (inline CSS, inline SVG, the font as a
``data:`` URI; nothing loaded from the network, no script). PDF is typeset by
typst (the ``typst`` package: no system library) with the shipped Noto Sans
KR subset and the same SVG charts. Markdown has the tables and text, and
links each chart to an SVG file written beside it (``report-curve.svg``...).
JSON is the typed context itself (:class:`~sitroom.sitrep.model.Report`).

Files are written whole or not at all: each goes to a temporary file in the
target's folder and is renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from sitroom.errors import SitroomError
from sitroom.sitrep.model import Report

Format = Literal["html", "pdf", "md", "json"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "md", "json")
TEMPLATES = Path(__file__).resolve().parent / "templates"


def to_json(report: Report) -> str:
    """The context as JSON, compact (the map's boundaries would triple it indented)."""
    return report.model_dump_json()


def to_html(report: Report, shown: dict[str, Any] | None = None) -> str:
    """The self-contained HTML; ``shown`` is the report's view if already made."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from sitroom.sitrep.fonts import BOLD, FONT_STACK, REGULAR, data_uri
    from sitroom.sitrep.view import view

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html").render(
        v=shown if shown is not None else view(report),
        font_regular=data_uri(REGULAR),
        font_bold=data_uri(BOLD),
        font_stack=FONT_STACK,
    )


def to_pdf(report: Report, shown: dict[str, Any] | None = None) -> bytes:
    """The PDF (typst); ``shown`` is the report's view if already made (left unchanged)."""
    import typst

    from sitroom.sitrep.fonts import FONTS
    from sitroom.sitrep.view import view

    if shown is None:
        shown = view(report)
    svgs = {c["key"]: c["svg"] for s in shown["sections"] for c in s["charts"]}
    # The drawings go to typst on their own: the report's data without them.
    shown = {
        **shown,
        "sections": [
            {**s, "charts": [{k: v for k, v in c.items() if k != "svg"} for c in s["charts"]]}
            for s in shown["sections"]
        ],
    }
    try:
        pdf: bytes = typst.compile(
            TEMPLATES / "report.typ",
            format="pdf",
            font_paths=[FONTS],
            ignore_system_fonts=True,
            sys_inputs={
                "report": json.dumps(shown, ensure_ascii=False),
                "svgs": json.dumps(svgs, ensure_ascii=False),
            },
        )
    except RuntimeError as exc:  # typst's compile errors
        raise SitroomError(f"the PDF could not be typeset: {exc}") from exc
    return pdf


def _md_escape(text: str) -> str:
    """Text for a Markdown table cell or line: pipes and markup characters escaped."""
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def to_markdown(report: Report, chart_files: dict[str, str] | None = None) -> str:
    """The report in Markdown; a chart links its file in ``chart_files`` (key -> name), if any."""
    from sitroom.sitrep.view import view

    shown = view(report, svg=False)
    e = _md_escape
    out = [f"# {e(shown['title'])} · {shown['period']}\n"]
    out.append(
        e(shown["country"]) + (f" · {e(shown['country_local'])}" if shown["country_local"] else "")
    )
    out.append(
        f"\nPeriod **{shown['period']}** · reports from {shown['window']}"
        f" · generated {shown['generated']}"
    )
    for s in shown["sections"]:
        out.append(f"\n## {e(s['title'])}\n")
        if s["intro"]:
            out.append(f"{e(s['intro'])}\n")
        for f in s["facts"]:
            line = f"- **{e(f['label'])}**: {f['value']}"
            if f["interval"]:
                line += f" {f['interval']}"
            if f["note"]:
                line += f" — {e(f['note'])}"
            out.append(line)
        if s["facts"]:
            out.append("")
        for x in s["sentences"]:
            out.append(f"- {x['mark']} {e(x['text'])}")
        if s["sentences"]:
            out.append("")
        for c in s["charts"]:
            name = (chart_files or {}).get(c["key"])
            if name:
                out.append(f"![{e(c['title'])}]({name})\n")
            else:
                out.append(f"**Chart: {e(c['title'])}** (drawn in the HTML and PDF formats)\n")
            out.append(
                f"*{e(c['caption'])}*"
                + (f" {e(c['attribution'])}" if c["attribution"] else "")
                + "\n"
            )
        for t in s["tables"]:
            out.append(f"### {e(t['title'])}\n")
            out.append("| " + " | ".join(e(c) for c in t["columns"]) + " |")
            out.append("|" + "|".join("---:" if n else "---" for n in t["numeric"]) + "|")
            for r in [*t["rows"], *([t["total"]] if t["total"] else [])]:
                out.append("| " + " | ".join(e(c) for c in r) + " |")
            if t["caption"]:
                out.append(f"\n{e(t['caption'])}")
            out.append("")
        for n in s["notes"]:
            out.append(f"Note: {e(n)}\n")
    out.append("\n---\n")
    out += [f"{e(a)}  " for a in report.attributions]
    return "\n".join(out) + "\n"


def _write_atomic(target: Path, data: bytes) -> None:
    """``data`` into ``target`` through a temporary file renamed into place."""
    folder = target.parent if str(target.parent) else Path()
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        # mkstemp makes the file private; give it the mode any new file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render(report: Report, fmt: str) -> bytes:
    """The report as the bytes of ``fmt`` (Markdown without chart files)."""
    if fmt == "html":
        return to_html(report).encode("utf-8")
    if fmt == "pdf":
        return to_pdf(report)
    if fmt == "md":
        return to_markdown(report).encode("utf-8")
    if fmt == "json":
        return to_json(report).encode("utf-8")
    raise SitroomError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def render_all(report: Report, formats: tuple[str, ...]) -> dict[str, bytes]:
    """The report in each of ``formats``, its charts drawn once for all of them."""
    from sitroom.sitrep.view import view

    shown = view(report) if {"html", "pdf"} & set(formats) else None
    out: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "html":
            out[fmt] = to_html(report, shown).encode("utf-8")
        elif fmt == "pdf":
            out[fmt] = to_pdf(report, shown)
        else:
            out[fmt] = render(report, fmt)
    return out


def write(report: Report, fmt: str, target: Path) -> list[Path]:
    """Render ``report`` as ``fmt`` into ``target``; the files written (Markdown's SVGs too).

    Everything is rendered before anything is written, and each file is
    renamed into place whole, the main file last.
    """
    if fmt not in FORMATS:
        raise SitroomError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    folder = target.parent
    if not folder.is_dir():
        raise SitroomError(f"{folder}: no such folder")
    files: dict[Path, bytes] = {}
    if fmt == "md":
        from sitroom.sitrep.charts import to_svg

        names = {c.key: f"{target.stem}-{c.key}.svg" for c in report.charts()}
        for chart in report.charts():
            files[folder / names[chart.key]] = to_svg(chart.spec).encode("utf-8")
        files[target] = to_markdown(report, names).encode("utf-8")
    else:
        files[target] = render(report, fmt)
    for path, data in files.items():
        _write_atomic(path, data)
    return list(files)


def write_file(target: Path, data: bytes) -> None:
    """``data`` into ``target`` whole or not at all (a published edition's file)."""
    if not (target.parent if str(target.parent) else Path()).is_dir():
        raise SitroomError(f"{target.parent}: no such folder")
    _write_atomic(target, data)


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON format as a dict (what the dashboard's twin will return)."""
    loaded: dict[str, Any] = json.loads(to_json(report))
    return loaded
