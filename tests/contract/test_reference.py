"""Contract tests for the reference data in ``schemas/reference/``.

The taxonomy, the Wuhan regions and each channel's crosswalks are contracts as data: connectors
and expectation suites read them, so a malformed row, a dangling crosswalk target or a file
changed without a manifest update would silently misclassify or misroute cases.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "schemas" / "reference"
CROSSWALK = REFERENCE / "crosswalk"
SIMULATOR_DATA = ROOT / "simulators" / "data"

MAJORS = [
    "城乡建设",
    "城市管理",
    "生态环境",
    "交通运输",
    "公共安全",
    "市场监管",
    "劳动和社会保障",
    "卫生健康",
    "教育",
    "住房和物业",
    "水电气热",
    "民政",
    "农业农村",
    "文化旅游体育",
    "政务服务",
    "自然资源和规划",
    "科技和通信",
    "纪检和党建",
    "其他",
]
DISTRICTS = {
    "420102": "江岸区",
    "420103": "江汉区",
    "420104": "硚口区",
    "420105": "汉阳区",
    "420106": "武昌区",
    "420107": "青山区",
    "420111": "洪山区",
    "420112": "东西湖区",
    "420113": "汉南区",
    "420114": "蔡甸区",
    "420115": "江夏区",
    "420116": "黄陂区",
    "420117": "新洲区",
}
STATUSES = {
    "received",
    "registered",
    "dispatched",
    "accepted",
    "processing",
    "completed",
    "verified",
    "closed",
    "returned",
    "cancelled",
}
NATURES = {"consult", "help", "complaint", "report", "suggestion", "praise"}
CODE_LENGTH = {"district": 6, "street": 9, "community": 12, "grid": 14}
PARENT_LEVEL = {"street": "district", "community": "street", "grid": "community"}
LNG_RANGE = (113.68, 115.08)
LAT_RANGE = (29.97, 31.37)
COORDINATE = re.compile(r"^\d{2,3}\.\d{6}$")


@cache
def read(path: Path) -> tuple[tuple[str, ...], tuple[dict[str, str], ...]]:
    """Header and rows of a CSV; the raw bytes must be UTF-8 without BOM, with Unix newlines."""
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{path.name} starts with a BOM"
    assert b"\r" not in raw, f"{path.name} has CR line endings"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = tuple(reader)
        return tuple(reader.fieldnames or ()), rows


def rows(path: Path) -> tuple[dict[str, str], ...]:
    return read(path)[1]


def assert_unique(values: list[str], what: str) -> None:
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    assert not duplicates, f"duplicate {what}: {duplicates[:10]}"


# --- taxonomy -------------------------------------------------------------------------------

TAXONOMY = REFERENCE / "taxonomy.csv"


def test_taxonomy_header() -> None:
    assert read(TAXONOMY)[0] == (
        "major_code",
        "major_name",
        "minor_code",
        "minor_name",
        "default_grade",
        "health_related",
    )


def test_taxonomy_has_19_majors_in_order() -> None:
    majors: dict[str, str] = {}
    for row in rows(TAXONOMY):
        assert majors.setdefault(row["major_code"], row["major_name"]) == row["major_name"], (
            f"major {row['major_code']} has two names"
        )
    assert list(majors) == [f"{index:02d}" for index in range(1, 20)]
    assert list(majors.values()) == MAJORS


def test_taxonomy_has_461_unique_minors() -> None:
    taxonomy = rows(TAXONOMY)
    assert len(taxonomy) == 461
    assert_unique([row["minor_code"] for row in taxonomy], "minor codes")
    assert_unique([row["minor_name"] for row in taxonomy], "minor names")


def test_every_major_has_minors() -> None:
    counts = Counter(row["major_code"] for row in rows(TAXONOMY))
    assert sorted(counts) == [f"{index:02d}" for index in range(1, 20)]
    assert min(counts.values()) >= 1


def test_minor_code_format_and_prefix() -> None:
    for row in rows(TAXONOMY):
        assert re.fullmatch(r"\d{2}", row["major_code"]), row
        assert re.fullmatch(r"\d{6}", row["minor_code"]), row
        assert row["minor_code"].startswith(row["major_code"]), row
        assert row["minor_code"][2:] != "0000", row
        assert row["minor_name"].strip() == row["minor_name"] != "", row


def test_grade_and_health_flag_values() -> None:
    for row in rows(TAXONOMY):
        assert row["default_grade"] in {"A", "B", "C", "D"}, row
        assert row["health_related"] in {"true", "false"}, row


def test_grades_mostly_community() -> None:
    grades = Counter(row["default_grade"] for row in rows(TAXONOMY))
    assert grades["A"] > grades["B"] > grades["D"] > 0
    assert grades["C"] > grades["D"]


def test_health_major_is_health_related() -> None:
    health = [row for row in rows(TAXONOMY) if row["major_name"] == "卫生健康"]
    assert health
    assert {row["health_related"] for row in health} == {"true"}


def test_food_safety_and_epidemic_are_health_related() -> None:
    flags = {row["minor_name"]: row["health_related"] for row in rows(TAXONOMY)}
    for name in ("食品安全", "疫情防控", "自来水水质"):
        assert flags[name] == "true", name


# --- regions --------------------------------------------------------------------------------

REGIONS = REFERENCE / "regions.csv"


def regions_by_code() -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in rows(REGIONS)}


def test_regions_header() -> None:
    assert read(REGIONS)[0] == ("code", "name", "level", "parent_code", "short_name", "lng", "lat")


def test_regions_codes_unique() -> None:
    assert_unique([row["code"] for row in rows(REGIONS)], "region codes")


def test_thirteen_real_districts() -> None:
    districts = {row["code"]: row for row in rows(REGIONS) if row["level"] == "district"}
    assert {code: row["name"] for code, row in districts.items()} == DISTRICTS
    for row in districts.values():
        assert row["parent_code"] == ""
        assert row["short_name"] == row["name"].removesuffix("区")


def test_every_level_is_populated() -> None:
    levels = Counter(row["level"] for row in rows(REGIONS))
    assert set(levels) == set(CODE_LENGTH)
    assert levels["street"] >= 13
    assert levels["community"] >= levels["street"] * 3
    assert levels["grid"] >= levels["community"] * 2


def test_region_codes_nest_under_parents() -> None:
    regions = regions_by_code()
    for row in regions.values():
        code, level = row["code"], row["level"]
        assert code.isdigit(), row
        assert len(code) == CODE_LENGTH[level], row
        if level == "district":
            continue
        parent = regions.get(row["parent_code"])
        assert parent is not None, f"{code} has no parent {row['parent_code']}"
        assert parent["level"] == PARENT_LEVEL[level], row
        assert code.startswith(parent["code"]), row


def test_every_street_and_community_has_children() -> None:
    with_children = {row["parent_code"] for row in rows(REGIONS)}
    for row in rows(REGIONS):
        if row["level"] != "grid":
            assert row["code"] in with_children, f"{row['code']} {row['name']} has no children"


def test_region_coordinates_inside_city() -> None:
    for row in rows(REGIONS):
        assert COORDINATE.fullmatch(row["lng"]), row
        assert COORDINATE.fullmatch(row["lat"]), row
        assert LNG_RANGE[0] <= float(row["lng"]) <= LNG_RANGE[1], row
        assert LAT_RANGE[0] <= float(row["lat"]) <= LAT_RANGE[1], row


def test_region_names_unique_among_siblings() -> None:
    names = [(row["parent_code"], row["name"]) for row in rows(REGIONS)]
    assert_unique([f"{parent}/{name}" for parent, name in names], "sibling names")
    for row in rows(REGIONS):
        assert row["name"], row
        assert row["short_name"], row


# --- crosswalks -----------------------------------------------------------------------------

CROSSWALK_HEADERS = {
    "hotline_category.csv": ("source_code", "source_name", "category_code"),
    "hotline_status.csv": ("source_code", "source_name", "status"),
    "hotline_nature.csv": ("source_name", "nature"),
    "hotline_district.csv": ("source_name", "district_code"),
    "message_board_category.csv": ("source_code", "source_name", "category_code"),
    "message_board_status.csv": ("source_code", "status"),
    "message_board_nature.csv": ("source_name", "nature"),
    "message_board_district.csv": ("source_name", "district_code"),
    "neighborhood_app_category.csv": ("source_code", "source_name", "category_code"),
    "neighborhood_app_status.csv": ("source_code", "status"),
    "neighborhood_app_nature.csv": ("source_name", "nature"),
    "urban_mgmt_category.csv": ("source_code", "source_name", "category_code"),
    "urban_mgmt_status.csv": ("source_code", "source_name", "status"),
    "urban_mgmt_nature.csv": ("source_code", "source_name", "nature"),
}

# crosswalk file, its source key column, the partner's published list, that list's key column
PARTNER_LISTS = [
    ("hotline_category.csv", "source_code", "hotline_categories.csv", "code"),
    ("hotline_status.csv", "source_code", "hotline_statuses.csv", "code"),
    ("message_board_category.csv", "source_code", "message_board_types.csv", "typeId"),
    ("message_board_status.csv", "source_code", "message_board_statuses.csv", "status"),
    ("neighborhood_app_category.csv", "source_code", "neighborhood_app_categories.csv", "code"),
    ("neighborhood_app_status.csv", "source_code", "neighborhood_app_statuses.csv", "status"),
    ("urban_mgmt_status.csv", "source_code", "urban_mgmt_statuses.csv", "code"),
    ("urban_mgmt_nature.csv", "source_code", "urban_mgmt_sources.csv", "code"),
]


@pytest.mark.parametrize("name", sorted(CROSSWALK_HEADERS))
def test_crosswalk_header_and_unique_source(name: str) -> None:
    header, crosswalk = read(CROSSWALK / name)
    assert header == CROSSWALK_HEADERS[name]
    assert crosswalk, f"{name} is empty"
    assert_unique([row[header[0]] for row in crosswalk], f"sources in {name}")


@pytest.mark.parametrize(
    "name",
    [
        "hotline_category.csv",
        "message_board_category.csv",
        "neighborhood_app_category.csv",
        "urban_mgmt_category.csv",
    ],
)
def test_category_targets_exist(name: str) -> None:
    minors = {row["minor_code"] for row in rows(TAXONOMY)}
    for row in rows(CROSSWALK / name):
        assert row["category_code"] in minors, row


@pytest.mark.parametrize(
    "name",
    [
        "hotline_status.csv",
        "message_board_status.csv",
        "neighborhood_app_status.csv",
        "urban_mgmt_status.csv",
    ],
)
def test_status_targets_exist(name: str) -> None:
    for row in rows(CROSSWALK / name):
        assert row["status"] in STATUSES, row


@pytest.mark.parametrize(
    "name", ["hotline_nature.csv", "message_board_nature.csv", "neighborhood_app_nature.csv"]
)
def test_nature_crosswalk_covers_every_nature(name: str) -> None:
    crosswalk = rows(CROSSWALK / name)
    assert {row["nature"] for row in crosswalk} == NATURES
    expected = {
        "咨询": "consult",
        "求助": "help",
        "投诉": "complaint",
        "举报": "report",
        "建议": "suggestion",
        "表扬": "praise",
    }
    assert {row["source_name"]: row["nature"] for row in crosswalk} == expected


def test_hotline_status_mapping() -> None:
    assert {row["source_code"]: row["status"] for row in rows(CROSSWALK / "hotline_status.csv")} == {
        "01": "registered",
        "02": "dispatched",
        "03": "processing",
        "04": "completed",
        "05": "closed",
        "09": "cancelled",
    }


def test_message_board_status_mapping() -> None:
    crosswalk = rows(CROSSWALK / "message_board_status.csv")
    assert {row["source_code"]: row["status"] for row in crosswalk} == {
        "待受理": "received",
        "已受理": "registered",
        "已回复": "completed",
        "已关闭": "closed",
    }


@pytest.mark.parametrize("name", ["hotline_district.csv", "message_board_district.csv"])
def test_district_crosswalk(name: str) -> None:
    crosswalk = {row["source_name"]: row["district_code"] for row in rows(CROSSWALK / name)}
    districts = {code for code, row in regions_by_code().items() if row["level"] == "district"}
    assert set(crosswalk.values()) <= districts
    for code, full_name in DISTRICTS.items():
        assert crosswalk.get(full_name) == code, full_name
        assert crosswalk.get(full_name.removesuffix("区")) == code, full_name
        assert crosswalk.get(f"武汉市{full_name}") == code, full_name


@pytest.mark.parametrize(("name", "key", "partner_list", "partner_key"), PARTNER_LISTS)
def test_crosswalk_matches_partner_list(name: str, key: str, partner_list: str, partner_key: str) -> None:
    published = [row[partner_key] for row in rows(SIMULATOR_DATA / partner_list)]
    assert_unique(published, f"codes in {partner_list}")
    mapped = [row[key] for row in rows(CROSSWALK / name)]
    assert sorted(mapped) == sorted(published)


@pytest.mark.parametrize(
    ("name", "partner_list", "code", "label"),
    [
        ("hotline_category.csv", "hotline_categories.csv", "code", "name"),
        ("hotline_status.csv", "hotline_statuses.csv", "code", "name"),
        ("message_board_category.csv", "message_board_types.csv", "typeId", "typeName"),
        ("neighborhood_app_category.csv", "neighborhood_app_categories.csv", "code", "name"),
        ("urban_mgmt_status.csv", "urban_mgmt_statuses.csv", "code", "name"),
        ("urban_mgmt_nature.csv", "urban_mgmt_sources.csv", "code", "name"),
    ],
)
def test_crosswalk_names_match_partner_list(name: str, partner_list: str, code: str, label: str) -> None:
    published = {row[code]: row[label] for row in rows(SIMULATOR_DATA / partner_list)}
    assert {row["source_code"]: row["source_name"] for row in rows(CROSSWALK / name)} == published


def test_partner_code_formats() -> None:
    hotline = rows(SIMULATOR_DATA / "hotline_categories.csv")
    assert all(re.fullmatch(r"HL\d{4}", row["code"]) for row in hotline)
    board = rows(SIMULATOR_DATA / "message_board_types.csv")
    assert all(re.fullmatch(r"[1-9]\d*", row["typeId"]) for row in board)
    statuses = [row["code"] for row in rows(SIMULATOR_DATA / "hotline_statuses.csv")]
    assert statuses == ["01", "02", "03", "04", "05", "09"]
    app = rows(SIMULATOR_DATA / "neighborhood_app_categories.csv")
    assert all(re.fullmatch(r"WL(0[1-9]|10)\d{2}", row["code"]) for row in app)


def test_neighborhood_app_status_mapping() -> None:
    crosswalk = rows(CROSSWALK / "neighborhood_app_status.csv")
    assert {row["source_code"]: row["status"] for row in crosswalk} == {
        "已提交": "received",
        "已受理": "registered",
        "已派单": "dispatched",
        "处理中": "processing",
        "已办结": "completed",
        "已评价": "closed",
        "已撤回": "cancelled",
        "已退回": "returned",
    }


def test_neighborhood_app_statuses_follow_known_ones() -> None:
    statuses = rows(SIMULATOR_DATA / "neighborhood_app_statuses.csv")
    names = [row["status"] for row in statuses]
    assert statuses[0]["follows"] == ""
    for row in statuses[1:]:
        assert row["follows"] and set(row["follows"].split("|")) <= set(names), row


def test_epidemic_reports_are_health_related() -> None:
    minors = {row["minor_code"]: row for row in rows(TAXONOMY)}
    crosswalk = rows(CROSSWALK / "neighborhood_app_category.csv")
    targets = {row["source_name"]: minors[row["category_code"]] for row in crosswalk}
    for name in ("疫情防控", "核酸检测", "疫苗接种"):
        assert targets[name]["major_name"] == "卫生健康", name
        assert targets[name]["health_related"] == "true", name


def test_urban_mgmt_category_keys_are_type_and_major_minor() -> None:
    """Digital urban management keys a category by its type and its major + minor code, the
    4 digits a connector reads from an event's code or from digits 7-10 of a component's."""
    published = rows(SIMULATOR_DATA / "urban_mgmt_categories.csv")
    assert_unique([f"{row['case_type']}:{row['code']}" for row in published], "urban_mgmt categories")
    for row in published:
        assert row["case_type"] in {"部件", "事件"}, row
        assert re.fullmatch(r"0[1-9](0[1-9]|[1-9]\d)", row["code"]), row
        assert row["major_name"] and row["minor_name"], row
        assert row["time_limit"].isdigit() and int(row["time_limit"]) >= 1, row
        assert row["time_limit_unit"] in {"小时", "工作日"}, row
    majors: dict[tuple[str, str], str] = {}
    for row in published:
        major = (row["case_type"], row["code"][:2])
        assert majors.setdefault(major, row["major_name"]) == row["major_name"], f"{major} has two names"
    assert {major for major in majors if major[0] == "部件"} == {("部件", f"0{n}") for n in range(1, 7)}
    crosswalk = rows(CROSSWALK / "urban_mgmt_category.csv")
    named = {row["source_code"]: row["source_name"] for row in crosswalk}
    assert named == {f"{row['case_type']}:{row['code']}": row["minor_name"] for row in published}


def test_urban_mgmt_status_mapping() -> None:
    crosswalk = rows(CROSSWALK / "urban_mgmt_status.csv")
    assert {row["source_code"]: row["status"] for row in crosswalk} == {
        "01": "received",
        "02": "registered",
        "03": "dispatched",
        "04": "accepted",
        "05": "processing",
        "06": "completed",
        "07": "verified",
        "08": "closed",
        "11": "returned",
        "12": "dispatched",
        "99": "cancelled",
    }


def test_urban_mgmt_nature_follows_the_source() -> None:
    """A case file has no nature of its own: a report unless a resident complained through a
    channel that forwards complaints (12345) or the press."""
    crosswalk = rows(CROSSWALK / "urban_mgmt_nature.csv")
    assert {row["source_name"]: row["nature"] for row in crosswalk} == {
        "监督员上报": "report",
        "公众举报": "report",
        "12345转办": "complaint",
        "视频智能发现": "report",
        "领导交办": "report",
        "媒体曝光": "complaint",
    }


def test_hotline_categories_reach_every_major() -> None:
    major_of = {row["minor_code"]: row["major_code"] for row in rows(TAXONOMY)}
    reached = {major_of[row["category_code"]] for row in rows(CROSSWALK / "hotline_category.csv")}
    assert reached == {f"{index:02d}" for index in range(1, 20)}


# --- manifest -------------------------------------------------------------------------------

MANIFEST = REFERENCE / "manifest.json"


def test_manifest_lists_every_csv() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    present = {path.relative_to(REFERENCE).as_posix() for path in REFERENCE.rglob("*.csv")}
    assert set(manifest["files"]) == present


def test_manifest_hashes_match() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    changed = [
        name
        for name, digest in manifest["files"].items()
        if (REFERENCE / name).is_file()
        and hashlib.sha256((REFERENCE / name).read_bytes()).hexdigest() != digest
    ]
    assert not changed, f"changed without a manifest update: {changed}"
