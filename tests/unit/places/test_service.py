import pytest
from sqlalchemy import func, select

from sitroom.country import load_country
from sitroom.errors import ConfigError, NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.places.service import OrgUnitResolver, load_places, read_places, slug


def test_dprk_has_13_regions_and_184_districts(country):
    records = read_places(country)
    assert sum(r.level == 1 for r in records) == 1
    assert sum(r.level == 2 for r in records) == 13
    assert sum(r.level == 3 for r in records) == 184
    codes = {r.code for r in records if r.level == 2}
    assert codes == {f"KP-{n:02d}" for n in (*range(1, 11), 13, 14, 15)}


def test_cities_counted_inside_provinces_in_2008_are_split_out(country):
    pop = {r.code: r.population for r in read_places(country)}
    # South Pyongan 4,051,696 included Nampo 366,815 in the 2008 census.
    assert pop["KP-02"] == 4_051_696 - 366_815
    assert pop["KP-06"] == 2_113_672 - 308_440  # North Hwanghae less Kaesong
    assert pop["KP-09"] == 2_327_362 - 196_954  # North Hamgyong less Rason
    # The 13 regions add up to the census's civilian total (24,052,231 less 702,372 in camps).
    assert pop["KP"] == sum(pop[c] for c in pop if c.count("-") == 1)
    assert pop["KP"] == 24_052_231 - 702_372


def test_hangul_names_and_district_codes(country):
    by_code = {r.code: r for r in read_places(country)}
    assert by_code["KP-01"].name_local == "평양직할시"
    assert by_code["KP-04-KANGGYE"].parent_code == "KP-04"
    assert slug("Ch'ŏllima") == "CHOLLIMA"


def test_loading_twice_changes_nothing(db_session, country):
    first = load_places(db_session, country)
    db_session.commit()
    second = load_places(db_session, country)
    assert (first.created, second.created, second.updated) == (198, 0, 0)
    assert second.unchanged == 198
    assert db_session.scalar(select(func.count()).select_from(OrgUnit)) == 198


def test_a_changed_population_is_updated(db_session, country, tmp_path):
    load_places(db_session, country)
    db_session.commit()
    folder = tmp_path / "kp"
    folder.mkdir()
    for name in ("country.toml", "districts.csv"):
        (folder / name).write_bytes((country.folder / name).read_bytes())
    regions = (country.folder / "regions.csv").read_text(encoding="utf-8")
    (folder / "regions.csv").write_text(regions.replace("1299830", "1300000"), encoding="utf-8")
    summary = load_places(db_session, load_country(folder / "country.toml"))
    # The country's population is the regions' sum, so it follows.
    assert summary.changes == ["KP: population", "KP-04: population"]


def test_resolver_finds_codes_names_hangul_and_aliases(outbreak_session, country):
    resolver = OrgUnitResolver.from_session(outbreak_session, country)
    assert resolver.resolve("KP-04").name == "Chagang"
    assert resolver.resolve("chagang").code == "KP-04"
    assert resolver.resolve("Jagang").code == "KP-04"  # the broadcast's spelling
    assert resolver.resolve("자강도").code == "KP-04"
    with pytest.raises(NotFoundError, match="ambiguous"):
        resolver.resolve("Pyongyang")  # the region and a district of it
    assert resolver.resolve("Pyongyang", level=2).code == "KP-01"
    with pytest.raises(NotFoundError, match="unknown org unit 'Atlantis'"):
        resolver.resolve("Atlantis")


def test_unknown_parent_is_a_configuration_error(tmp_path, country):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "country.toml").write_text(
        (country.folder / "country.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (folder / "regions.csv").write_bytes((country.folder / "regions.csv").read_bytes())
    (folder / "districts.csv").write_text(
        "region_code,name_en,name_ko,kind,population_2008,source\nKP-99,Nowhere,,kun,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="unknown parent 'KP-99'"):
        read_places(load_country(folder / "country.toml"))
