"""Each format renders the real outbreak's report."""

from __future__ import annotations

import io
import json
import re

import pytest

from sitroom.errors import SitroomError
from sitroom.sitrep import render
from sitroom.sitrep.model import Report

pypdf = pytest.importorskip("pypdf")


def test_the_cli_formats_are_the_renderers():
    from sitroom.cli.sitrep import SITREP_FORMATS

    assert SITREP_FORMATS == render.FORMATS


def test_html_is_self_contained_with_svgs_and_hangul(late):
    html = render.to_html(late)
    assert html.startswith("<!DOCTYPE html>")
    # Nothing is loaded: no resource by URL (src=, href= of a link, CSS url()).
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "<script" not in html
    # The only http(s) text left is in the SVGs' namespaces and the attribution.
    for url in re.findall(r"https?://[^\s\"'<)]+", html):
        assert url.startswith("http://www.w3.org/"), url
    assert html.count("<svg") == len(late.charts())
    assert "평양직할시" in html
    assert "CC BY 3.0 IGO" in html
    assert "4,770,860" in html  # its cumulative fever cases, formatted


def test_html_escapes_text_from_the_data(late):
    evil = late.model_copy(deep=True)
    evil.sections[0].intro = "<script>alert(1)</script>"
    html = render.to_html(evil)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pdf_starts_with_the_magic_and_holds_hangul(late):
    pdf = render.to_pdf(late)
    assert pdf.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "평양직할시" in text
    assert "Situation report" in text
    assert "CC BY 3.0 IGO" in text.replace("\n", " ")


def test_markdown_has_the_tables_and_links_the_charts(late):
    names = {c.key: f"r-{c.key}.svg" for c in late.charts()}
    md = render.to_markdown(late, names)
    assert "| Region | Local name | New cases |" in md
    assert "| Pyongyang | 평양직할시 |" in md
    assert "![New cases per 100,000 people](r-map_rate.svg)" in md
    assert "CC BY 3.0 IGO" in md
    bare = render.to_markdown(late)
    assert "**Chart: Reproduction number R**" in bare


def test_json_round_trips(late):
    data = render.render(late, "json")
    again = Report.model_validate_json(data)
    assert again == late
    assert json.loads(data)["period"] == "2022-07-15"


def test_write_renames_whole_files_and_markdown_writes_its_charts(late, out_dir):
    written = render.write(late, "md", out_dir / "report.md")
    names = sorted(p.name for p in written)
    assert "report.md" in names
    assert "report-curve.svg" in names
    assert not [p for p in out_dir.iterdir() if p.name.endswith(".tmp")]


def test_unknown_formats_and_folders_are_refused(late, out_dir):
    with pytest.raises(SitroomError, match="unknown format"):
        render.write(late, "docx", out_dir / "r.docx")
    with pytest.raises(SitroomError, match="no such folder"):
        render.write(late, "json", out_dir / "nowhere" / "r.json")


def test_rendering_every_format_draws_each_chart_once(late, monkeypatch):
    # A publication renders HTML and PDF of one report: the drawings are made once.
    from sitroom.sitrep import charts
    from sitroom.sitrep.render import render, render_all

    drawn: list[str] = []
    real = charts.to_svg

    def counted(spec):
        drawn.append(spec.get("title", ""))
        return real(spec)

    monkeypatch.setattr(charts, "to_svg", counted)
    files = render_all(late, ("html", "pdf", "md", "json"))
    assert len(drawn) == len(late.charts())
    # The same page as on its own (vega numbers its clip paths per drawing, so compare the
    # text without the drawings' insides).
    alone = render(late, "html")
    assert files["html"].count(b"<svg") == alone.count(b"<svg") == len(late.charts())
    assert re.sub(rb"<svg.*?</svg>", b"", files["html"], flags=re.S) == re.sub(
        rb"<svg.*?</svg>", b"", alone, flags=re.S
    )
    assert files["pdf"].startswith(b"%PDF")
    assert files["json"] == render(late, "json")
