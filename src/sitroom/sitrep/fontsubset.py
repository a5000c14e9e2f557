"""Make the report's font: Noto Sans KR cut down to Latin and the country's Hangul.

A maintainer's tool, not used at run time (it needs fontTools, in the ``dev``
extra). The full Noto Sans KR weighs about 6 MB a weight; the report needs
Latin and the Hangul syllables of the places' names, about 100 KB a weight.
Re-run it when a country configuration adds names with new syllables::

    npm pack @expo-google-fonts/noto-sans-kr@0.4.3   # the pinned source (OFL 1.1)
    tar xzf expo-google-fonts-noto-sans-kr-0.4.3.tgz
    python -m sitroom.sitrep.fontsubset package/ src/sitroom/data/countries/*/*.csv \\
        src/sitroom/data/countries/*/country.toml

``--text "..."`` adds characters (an event's title in Hangul, say);
``--common-hangul`` adds the 2,350 syllables of KS X 1001 (about 500 KB a weight).
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Where the subset fonts live (with OFL.txt and SOURCES.md).
FONTS = Path(__file__).resolve().parent.parent / "data" / "fonts"

#: Source file in the npm package -> the subset's name.
WEIGHTS = {
    "400Regular/NotoSansKR_400Regular.ttf": "NotoSansKR-Regular.subset.ttf",
    "700Bold/NotoSansKR_700Bold.ttf": "NotoSansKR-Bold.subset.ttf",
}

#: Latin, Latin-1, Latin Extended-A and the McCune-Reischauer vowels; the
#: punctuation and signs the report prints (dashes, quotes, comparison, multiplication
#: and minus signs, arrows, thin spaces).
LATIN = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x180),
    *range(0x1CD, 0x1DD),
    *range(0x2010, 0x2027),
    0x2030,
    0x2039,
    0x203A,
    0x2009,
    0x202F,
    0x2122,
    0x2190,
    0x2191,
    0x2192,
    0x2193,
    0x2212,
    0x2248,
    0x2264,
    0x2265,
    0x25B2,
    0x25BC,
]


def hangul_in(text: str) -> set[str]:
    """The Hangul syllables (U+AC00-U+D7A3) of ``text``."""
    return {c for c in text if 0xAC00 <= ord(c) <= 0xD7A3}


def common_hangul() -> str:
    """The 2,350 syllables of KS X 1001 (EUC-KR rows 0xB0-0xC8)."""
    return "".join(
        bytes([row, col]).decode("euc-kr") for row in range(0xB0, 0xC9) for col in range(0xA1, 0xFF)
    )


def subset(source: Path, target: Path, characters: set[str]) -> int:
    """Write the subset of ``source`` keeping LATIN and ``characters``; its size in bytes."""
    from fontTools import subset as ft

    options = ft.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = ft.load_font(str(source), options)
    cutter = ft.Subsetter(options)
    cutter.populate(unicodes=[*LATIN, *(ord(c) for c in sorted(characters))])
    cutter.subset(font)
    font.save(str(target))
    return target.stat().st_size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the unpacked npm package folder")
    parser.add_argument("files", type=Path, nargs="*", help="files whose Hangul to keep")
    parser.add_argument("--text", default="", help="more characters to keep")
    parser.add_argument("--common-hangul", action="store_true", help="keep KS X 1001's syllables")
    parser.add_argument("--out", type=Path, default=FONTS)
    args = parser.parse_args(argv)
    keep = hangul_in(args.text) | set(args.text)
    for path in args.files:
        keep |= hangul_in(path.read_text(encoding="utf-8"))
    if args.common_hangul:
        keep |= set(common_hangul())
    for source, name in WEIGHTS.items():
        size = subset(args.package / source, args.out / name, keep)
        print(f"{name}: {size:,} bytes, {len(hangul_in(''.join(keep)))} Hangul syllables")


if __name__ == "__main__":
    main()
