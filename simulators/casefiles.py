"""Digital urban management case files (案卷): generation, the workflow and its progress log.

A case file is the `CaseFile` element of schemas/wsdl/urban_mgmt.wsdl: string fields in the
vendor's English names, and `Progress` (处置过程), the list of workflow steps so far. A case moves
01 待立案 → 02 已立案 → 03 已派遣 → 04 已签收 → 05 处置中 → 06 已处置 → 07 已核查 → 08 已结案; a
department may return it (11 已退回) to be dispatched elsewhere, a failed verification sends it
back for rework (12 返工), and the monitoring centre may void it (99 已作废) before dispatch.
Every version's log holds the steps up to its status, so the log grows as the case advances.

Categories follow the national standard for city management components and events (GB/T
30428.2, CJ/T 214): a component (部件) code is 16 digits, the district code, major, minor and the
serial number of the physical object; an event (事件) code is its major and minor. Places are unit
grids of the hub's region table; coordinates are CGCS2000 3° Gauss-Krüger, central meridian 114°E
(EPSG:4547), easting and northing in metres, projected with pyproj from a WGS-84 point in the grid.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from faker import Faker
from pyproj import Transformer

from simulators import people
from simulators.gazetteer import DISTRICT_WEIGHTS, DISTRICTS, FOREIGN_POINTS, District
from simulators.grids import Grid, grids_of, region_codes
from simulators.records import (
    Options,
    Record,
    Version,
    draw_defects,
    local_text,
    parse_local,
    reported_time,
)
from simulators.reference import DATA_DIR

DEFECTS: tuple[str, ...] = (
    "missing_field", "bad_component_code", "unknown_category", "unknown_grid", "outside_city",
    "swapped_coordinates", "unknown_status", "missing_id", "future_update", "stale_resend",
)
FIELDS: tuple[str, ...] = (
    "CaseNo", "SourceCode", "SourceName", "CaseType", "CategoryCode", "MajorName", "MinorName",
    "GridCode", "DistrictName", "StreetName", "CommunityName", "CoordX", "CoordY", "Address",
    "Description", "ReporterName", "ReporterPhone", "SupervisorId", "StatusCode", "StatusName",
    "Department", "TimeLimit", "TimeLimitUnit", "ReportTime", "RegisterTime", "UpdateTime",
    "CloseTime", "Result", "Progress",
)
STEP_FIELDS: tuple[str, ...] = ("StepTime", "StatusCode", "StatusName", "Department", "Note")

COMPONENT, EVENT = "部件", "事件"
REPORTED = "01"  # 待立案
REGISTERED = "02"  # 已立案
DISPATCHED = "03"  # 已派遣
ACCEPTED = "04"  # 已签收
PROCESSING = "05"  # 处置中
HANDLED = "06"  # 已处置
VERIFIED = "07"  # 已核查
CLOSED = "08"  # 已结案
RETURNED = "11"  # 已退回
REWORK = "12"  # 返工
CANCELLED = "99"  # 已作废
NEXT_STATUS: dict[str, str] = {
    REPORTED: REGISTERED, REGISTERED: DISPATCHED, DISPATCHED: ACCEPTED, ACCEPTED: PROCESSING,
    PROCESSING: HANDLED, HANDLED: VERIFIED, VERIFIED: CLOSED, RETURNED: DISPATCHED,
    REWORK: PROCESSING,
}
SUPERVISOR = "01"  # the source 监督员上报, whose reporter is a supervisor's id
PUBLIC_SOURCES = ("02", "03")  # 公众举报 and 12345转办 name a resident and a phone

_MINUTE = 60_000
_HOUR = 3_600_000
_SOURCE_WEIGHTS = {"01": 62, "02": 12, "03": 16, "04": 7, "05": 2, "06": 1}
_UNPINNED = {"02": 0.25, "03": 0.5, "05": 0.6, "06": 0.6}  # share of each source without coordinates
_FREQUENT = {  # relative frequency of the categories seen most, the others weigh 1
    "事件:0101": 14, "事件:0502": 12, "事件:0201": 10, "事件:0107": 9, "事件:0501": 8,
    "事件:0504": 7, "事件:0103": 6, "事件:0102": 5, "事件:0505": 4, "事件:0303": 3,
    "部件:0101": 3, "部件:0102": 3, "部件:0103": 2, "部件:0201": 4, "部件:0302": 3,
}
_GRID_SPREAD = 0.0015  # degrees: a case lies within about 150 m of its grid's centre
_UNPUBLISHED_NAMES = ("其他", "待分类", "")
_UNKNOWN_STATUSES = (("09", "挂起"), ("13", ""), ("20", "待审核"), ("A1", ""), ("00", "未知"))

# The department a category is dispatched to: by type and code, else by type and major.
_DEPARTMENTS: dict[str, str] = {
    "部件:0101": "武汉市水务集团有限公司", "部件:0102": "{district}水务和湖泊局",
    "部件:0103": "{district}水务和湖泊局", "部件:0104": "{district}水务和湖泊局",
    "部件:0105": "国网武汉供电公司", "部件:0107": "中国电信武汉分公司",
    "部件:0111": "武汉市燃气集团有限公司", "部件:0112": "武汉市公安局{district}分局",
    "部件:0115": "武汉市水务集团有限公司", "部件:01": "{district}城市管理执法局",
    "部件:0201": "{district}城市管理执法局", "部件:0202": "武汉市公安局交通管理局{short}大队",
    "部件:0203": "武汉市公安局交通管理局{short}大队", "部件:0205": "武汉市公交集团有限责任公司",
    "部件:02": "{district}城乡建设局", "部件:03": "{district}城市管理执法局",
    "部件:04": "{district}园林和林业局", "部件:0502": "{street}办事处",
    "部件:05": "{district}住房和城市更新局", "部件:0601": "{district}文化和旅游局",
    "部件:0603": "国网武汉供电公司", "部件:0604": "武汉市公安局{district}分局",
    "部件:06": "{district}城市管理执法局",
    "事件:0104": "{district}水务和湖泊局", "事件:0109": "武汉市公安局交通管理局{short}大队",
    "事件:01": "{street}办事处", "事件:02": "{district}城市管理执法局",
    "事件:0303": "{district}城市管理执法局", "事件:03": "{district}城乡建设局",
    "事件:0402": "武汉市水务集团有限公司", "事件:0403": "武汉市燃气集团有限公司",
    "事件:0404": "{district}水务和湖泊局", "事件:0405": "国网武汉供电公司",
    "事件:04": "{district}城乡建设局", "事件:0505": "武汉市公安局交通管理局{short}大队",
    "事件:0508": "武汉市交通运输综合执法支队", "事件:05": "{street}城管执法中队",
    "事件:0602": "{district}园林和林业局", "事件:06": "{district}城市管理执法局",
}
_FALLBACK_DEPARTMENT = "{street}办事处"  # where a returned case goes next

# What is wrong, as a supervisor writes it: after a component's name, or a whole event.
_COMPONENT_PROBLEMS: dict[str, tuple[str, ...]] = {
    "01": ("缺失", "破损", "移位", "松动，车辆经过有异响", "下沉，与路面高差明显"),
    "0104": ("缺失", "破损", "被垃圾堵塞"),
    "0115": ("漏水", "被车辆撞损", "被杂物遮挡"),
    "0201": ("不亮", "灯杆倾斜", "灯罩破损", "白天常亮"),
    "0202": ("不亮", "显示异常", "被树枝遮挡"),
    "02": ("破损", "倾斜", "被撞变形", "缺失"),
    "03": ("破损", "脏污", "损坏无法使用", "满溢未清理"),
    "04": ("枯死", "倒伏", "破损", "被损坏"),
}
_GENERIC_PROBLEMS = ("破损", "损坏", "缺失", "脏污")
_EVENT_PROBLEMS: dict[str, tuple[str, ...]] = {
    "0101": ("路边有暴露垃圾，未及时清运", "绿化带内有暴露垃圾"),
    "0102": ("堆积大量垃圾渣土，长时间未清运",),
    "0103": ("路面有油污，道路不洁", "路面有大量泥土，道路不洁"),
    "0104": ("水面有漂浮垃圾",),
    "0105": ("绿地内有生活垃圾，脏乱",),
    "0106": ("行道树上挂有塑料袋等杂物", "树上悬挂衣物"),
    "0107": ("有人在人行道上堆放建材", "店家门前堆放杂物占用人行道"),
    "0108": ("有人焚烧垃圾树叶，烟雾较大",),
    "0109": ("一辆废弃机动车长期停放，车身积灰严重", "有废弃自行车堆放"),
    "0201": ("墙面、电杆上张贴大量小广告",),
    "0202": ("有商家未经审批悬挂横幅",),
    "0203": ("商家在人行道上摆放广告牌",),
    "0204": ("墙面被乱涂写",),
    "0301": ("工地夜间施工，噪音扰民",),
    "0302": ("工地未采取覆盖措施，扬尘较大",),
    "0303": ("渣土车遗撒，路面大量泥土",),
    "0304": ("施工围挡占用机动车道，未见审批公示",),
    "0305": ("路边堆放施工废弃料，未清运",),
    "0401": ("路面出现塌陷，面积约{area}平方米",),
    "0402": ("自来水管破裂，路面大量冒水",),
    "0403": ("闻到明显燃气味，疑似燃气管道泄漏",),
    "0404": ("降雨后道路积水严重，影响通行",),
    "0405": ("架空线缆脱落垂挂，存在安全隐患",),
    "0501": ("有流动摊贩占道经营", "有游商推车售卖水果"),
    "0502": ("店家在店外摆摊经营", "餐馆在门前摆放桌椅经营"),
    "0503": ("有人占道收购废品",),
    "0504": ("共享单车乱停放，堵塞人行道",),
    "0505": ("机动车停放在人行道上",),
    "0506": ("夜间有人占道露天烧烤，油烟较大",),
    "0507": ("居民沿街晾晒衣物",),
    "0508": ("有黑车在路口招揽乘客",),
    "0601": ("有人在楼顶搭建违法建筑", "临街商铺私自搭建雨棚"),
    "0602": ("绿化带被占用停车，绿地被破坏",),
}
_OPENINGS = {
    "01": "", "02": "市民举报：", "03": "12345热线转办：来电人反映", "04": "视频监控智能识别：",
    "05": "领导交办：", "06": "媒体曝光：",
}
_CLOSINGS = {"01": "。", "02": "，希望尽快处理。", "03": "，请相关部门处理。", "04": "。",
             "05": "，请加快处置。", "06": "。"}
_RESULTS: dict[str, tuple[str, ...]] = {
    "部件:01": ("已更换新井盖，恢复正常。", "已对井盖进行加固复位。"),
    "部件": ("已安排维修，设施恢复正常。", "已更换损坏部件，恢复使用。"),
    "事件:01": ("已安排环卫工人清理完毕。", "已清运完毕，现场恢复整洁。"),
    "事件:02": ("已清除违规广告。", "已责令商家自行拆除。"),
    "事件:03": ("已责令施工单位整改，现场已规范。",),
    "事件:04": ("已组织抢修，险情已排除。",),
    "事件:0502": ("已责令店家退店经营。", "已现场规范，店外物品已清理。"),
    "事件:05": ("已现场劝离，秩序恢复正常。", "已现场规范整治完毕。"),
    "事件": ("已下达限期整改通知书，现场已整改。",),
}
_RETURN_REASONS = ("非本单位职责范围，申请退回。", "地址不详，无法处置，申请退回。")
_REWORK_NOTES = ("核查未通过：问题仍存在，要求返工。", "核查未通过：处置不彻底，要求返工。")
_ASCII_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_VOID_NOTES = ("经核实不属于城管受理范围，作废。", "重复上报，作废。", "现场核实问题不存在，作废。")


@dataclass(frozen=True)
class Category:
    """One published category: 部件 or 事件, its major + minor code and names, and how long
    the department has to handle it (处置时限)."""

    case_type: str
    code: str  # major + minor, 4 digits
    major_name: str
    minor_name: str
    time_limit: int
    time_limit_unit: str  # 小时 or 工作日

    @property
    def key(self) -> str:
        """The crosswalk key: `部件:0101` or `事件:0101`."""
        return f"{self.case_type}:{self.code}"

    @property
    def limit_ms(self) -> int:
        """The time limit as a span; a working day counted as a calendar day."""
        return self.time_limit * (_HOUR if self.time_limit_unit == "小时" else 24 * _HOUR)


@dataclass(frozen=True)
class Step:
    """One entry of the progress log, and the department the case is assigned to after it."""

    status: str
    at_ms: int
    department: str  # who took the step
    note: str
    assigned: str = ""  # 处置部门 from dispatch on

    def element(self) -> dict[str, str]:
        return {"StepTime": local_text(self.at_ms), "StatusCode": self.status,
                "StatusName": statuses().get(self.status, ""), "Department": self.department,
                "Note": self.note}


def _rows(file_name: str) -> list[dict[str, str]]:
    with (DATA_DIR / file_name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def categories() -> tuple[Category, ...]:
    """部件 and 事件 categories the system publishes (simulators/data/urban_mgmt_categories.csv)."""
    return tuple(Category(row["case_type"], row["code"], row["major_name"], row["minor_name"],
                          int(row["time_limit"]), row["time_limit_unit"])
                 for row in _rows("urban_mgmt_categories.csv"))


@cache
def statuses() -> dict[str, str]:
    """案卷状态 status codes to names (simulators/data/urban_mgmt_statuses.csv)."""
    return {row["code"]: row["name"] for row in _rows("urban_mgmt_statuses.csv")}


@cache
def sources() -> dict[str, str]:
    """问题来源 source codes to names (simulators/data/urban_mgmt_sources.csv)."""
    return {row["code"]: row["name"] for row in _rows("urban_mgmt_sources.csv")}


@cache
def _projection() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


def gauss_kruger(lng: float, lat: float) -> tuple[float, float]:
    """(easting, northing) in metres of a WGS-84 point, in EPSG:4547."""
    easting, northing = _projection().transform(lng, lat)
    return float(easting), float(northing)


def generate(options: Options) -> tuple[Record, ...]:
    """`options.records` case files reported within the span, numbered in reporting order."""
    rng = random.Random(options.seed)
    faker = Faker("zh_CN")
    faker.seed_instance(options.seed)
    start_ms, end_ms = options.window()
    drafts = [_draft(rng, faker, options, start_ms, end_ms) for _ in range(options.records)]
    drafts.sort(key=lambda draft: draft[0][0].payload["ReportTime"])
    return _numbered(rng, drafts)


def _numbered(rng: random.Random,
              drafts: list[tuple[list[Version], tuple[str, ...]]]) -> tuple[Record, ...]:
    """案卷编号: CG + the report date yyMMdd + a daily sequence with gaps; empty when lost."""
    records: list[Record] = []
    sequence: dict[str, int] = {}
    for versions, defects in drafts:
        day = str(versions[0].payload["ReportTime"])[2:10].replace("-", "")
        sequence[day] = sequence.get(day, rng.randrange(1, 400)) + rng.randint(1, 12)
        number = f"CG{day}{sequence[day]:06d}"
        served = "" if "missing_id" in defects else number
        numbered = tuple(Version(v.updated_ms, {**v.payload, "CaseNo": served}) for v in versions)
        records.append(Record(number, int(number[2:]), numbered, defects))
    return tuple(records)


def _draft(rng: random.Random, faker: Faker, options: Options, start_ms: int,
           end_ms: int) -> tuple[list[Version], tuple[str, ...]]:
    defects = draw_defects(rng, DEFECTS, options.defect_rate)
    reported_ms = reported_time(rng, start_ms, end_ms, margin_ms=2 * _HOUR)
    district = rng.choices(DISTRICTS, weights=DISTRICT_WEIGHTS)[0]
    grid = rng.choice(grids_of(district.code))
    category = _category(rng, defects)
    source = rng.choices(list(_SOURCE_WEIGHTS), weights=list(_SOURCE_WEIGHTS.values()))[0]
    supervisors = _supervisors(district)
    base = _base_fields(rng, faker, district, grid, category, source, defects, reported_ms)
    steps = _workflow(rng, base, category, supervisors, reported_ms, stale="stale_resend" in defects)
    steps = [step for step in steps if step.at_ms < end_ms - 1000]
    count = rng.randint(2 if "stale_resend" in defects else 1, min(3, len(steps)))
    shown = [*sorted(rng.sample(range(len(steps) - 1), count - 1)), len(steps) - 1]
    versions = [snapshot(base, steps[: index + 1], future="future_update" in defects) for index in shown]
    if "unknown_status" in defects:
        versions[-1] = _with_unknown_status(rng, versions[-1])
    return versions, defects


def _category(rng: random.Random, defects: tuple[str, ...]) -> Category:
    """A published category, weighted as case files come; a component for a malformed code,
    and a code the system never published for an unknown category."""
    published = [c for c in categories() if "bad_component_code" not in defects or c.case_type == COMPONENT]
    chosen = rng.choices(published, weights=[_FREQUENT.get(c.key, 1) for c in published])[0]
    if "unknown_category" not in defects:
        return chosen
    known = {c.key for c in categories()}
    while True:
        code = f"{rng.randint(1, 9):02d}{rng.choice((rng.randint(1, 20), rng.randint(90, 99))):02d}"
        if f"{chosen.case_type}:{code}" not in known:
            return replace(chosen, code=code, major_name=rng.choice(_UNPUBLISHED_NAMES),
                           minor_name=rng.choice(_UNPUBLISHED_NAMES), time_limit=3,
                           time_limit_unit="工作日")


def _supervisors(district: District) -> tuple[str, ...]:
    """监督员编号 of the district's supervisors: JDY + the district's last two digits + 3."""
    return tuple(f"JDY{district.code[4:]}{number:03d}" for number in range(1, 41))


def _base_fields(rng: random.Random, faker: Faker, district: District, grid: Grid,
                 category: Category, source: str, defects: tuple[str, ...],
                 reported_ms: int) -> dict[str, Any]:
    """The fields a report fixes once: source, category, place, reporter and time limit."""
    address = _address(rng, district, grid)
    description = _description(rng, category, source, address)
    if "missing_field" in defects:
        address, description = rng.choice(((address, ""), ("", description)))
    easting, northing = _coordinates(rng, grid, source, defects)
    public = source in PUBLIC_SOURCES
    limit = str(category.time_limit)
    return {
        "CaseNo": "",
        "SourceCode": source,
        "SourceName": sources()[source],
        "CaseType": category.case_type,
        "CategoryCode": _category_code(rng, category, grid, defects),
        "MajorName": category.major_name,
        "MinorName": category.minor_name,
        "GridCode": _unknown_grid(rng, grid) if "unknown_grid" in defects else grid.code,
        "DistrictName": grid.district,
        "StreetName": grid.street,
        "CommunityName": grid.community,
        "CoordX": easting,
        "CoordY": northing,
        "Address": address,
        "Description": description,
        "ReporterName": _reporter_name(rng, faker) if public else "",
        "ReporterPhone": _reporter_phone(rng) if public else "",
        "SupervisorId": rng.choice(_supervisors(district)) if source == SUPERVISOR else "",
        "StatusCode": "",
        "StatusName": "",
        "Department": "",
        "TimeLimit": people.fullwidth(limit) if rng.random() < 0.05 else limit,
        "TimeLimitUnit": category.time_limit_unit,
        "ReportTime": local_text(reported_ms),
        "RegisterTime": "",
        "UpdateTime": "",
        "CloseTime": "",
        "Result": "",
        "Progress": [],
    }


def _category_code(rng: random.Random, category: Category, grid: Grid,
                   defects: tuple[str, ...]) -> str:
    """类别代码: an event's major + minor; a component's district + major + minor + serial,
    or, for `bad_component_code`, one a digit short or long or with another district's prefix."""
    if category.case_type == EVENT:
        return category.code
    serial = f"{rng.randint(1, 30000):06d}"
    if "bad_component_code" not in defects:
        return grid.district_code + category.code + serial
    other = rng.choice([d.code for d in DISTRICTS if d.code != grid.district_code])
    return rng.choice((
        grid.district_code + category.code + serial[1:],
        grid.district_code + category.code + serial + str(rng.randrange(10)),
        other + category.code + serial,
    ))


def _unknown_grid(rng: random.Random, grid: Grid) -> str:
    """A 14-digit grid code under the right district that the region table does not hold: a
    grid number the community never had, or a community the street never had."""
    known = region_codes()
    while True:
        code = rng.choice((
            grid.code[:12] + f"{rng.randint(60, 99):02d}",
            grid.code[:9] + f"{rng.randint(900, 999):03d}" + grid.code[12:],
        ))
        if code not in known:
            return code


def _coordinates(rng: random.Random, grid: Grid, source: str,
                 defects: tuple[str, ...]) -> tuple[str, str]:
    """CoordX easting and CoordY northing in EPSG:4547, metres to the centimetre; empty where
    the reporter gave no place (residents and forwarded calls often do not)."""
    outside = "outside_city" in defects
    swapped = "swapped_coordinates" in defects
    if not (outside or swapped) and rng.random() < _UNPINNED.get(source, 0.0):
        return "", ""
    lng, lat = rng.choice(FOREIGN_POINTS) if outside else grid.centre
    spread = 0.02 if outside else _GRID_SPREAD
    angle = rng.uniform(0, 2 * math.pi)
    distance = spread * math.sqrt(rng.random())
    easting, northing = gauss_kruger(lng + distance * math.cos(angle), lat + distance * math.sin(angle))
    x, y = f"{easting:.2f}", f"{northing:.2f}"
    return (y, x) if swapped else (x, y)


def _address(rng: random.Random, district: District, grid: Grid) -> str:
    """发生地址 as a supervisor's handset or an operator writes it."""
    road, road2 = rng.sample(district.roads, 2)
    community = grid.community.removesuffix("社区")
    detail = rng.choice((
        f"{road}{rng.randint(1, 688)}号门前",
        f"{road}与{road2}交叉口",
        f"{community}小区{rng.randint(1, 32)}栋旁",
        f"{road}{community}段",
    ))
    address = rng.choice(("", district.name, f"{grid.district}{grid.street}")) + detail
    return people.fullwidth(address) if rng.random() < 0.05 else address


def _description(rng: random.Random, category: Category, source: str, address: str) -> str:
    """问题描述: where and what, in the words of the source that reported it."""
    problem = _problem(rng, category)
    return _OPENINGS[source] + address + problem + _CLOSINGS[source]


def _problem(rng: random.Random, category: Category) -> str:
    if category.case_type == EVENT:
        phrases = _EVENT_PROBLEMS.get(category.code, (f"存在{category.minor_name or '城市管理'}问题",))
        return rng.choice(phrases).format(area=rng.randint(1, 12))
    suffixes = (_COMPONENT_PROBLEMS.get(category.code) or _COMPONENT_PROBLEMS.get(category.code[:2])
                or _GENERIC_PROBLEMS)
    return (category.minor_name or "设施") + rng.choice(suffixes)


def _reporter_name(rng: random.Random, faker: Faker) -> str:
    roll = rng.random()
    if roll < 0.7:
        return str(faker.name())
    if roll < 0.9:
        return str(faker.last_name()) + rng.choice(("先生", "女士"))
    return ""


def _reporter_phone(rng: random.Random) -> str:
    number = people.mobile(rng) if rng.random() < 0.9 else people.landline(rng)
    return people.written_form(number, rng) if rng.random() < 0.95 else ""


def department_for(key: str, district: str, street: str) -> str:
    """The department a category key is dispatched to in a district and street."""
    template = _DEPARTMENTS.get(key) or _DEPARTMENTS.get(key[:5], _FALLBACK_DEPARTMENT)
    return template.format(district=district, short=district.removesuffix("区"), street=street)


def _centre(district: str) -> str:
    return f"{district}城市管理监督指挥中心"


def _after(rng: random.Random, at_ms: int, low_minutes: float, high_minutes: float) -> int:
    """A time some minutes after `at_ms`, to the second."""
    return at_ms + int(rng.uniform(low_minutes, high_minutes) * 60) * 1000


def _workflow(rng: random.Random, base: Mapping[str, Any], category: Category,
              supervisors: tuple[str, ...], reported_ms: int, *, stale: bool) -> list[Step]:
    """Every step the case will take, ahead of the span's end too; the caller cuts it there.

    The monitoring centre registers a report within half an hour and dispatches it soon after;
    the department handles it within its time limit nine times in ten. One case in twenty is
    returned and dispatched elsewhere, one in sixteen fails verification and is reworked, and one
    in twenty-five is voided, never when it must have two versions to re-send.
    """
    district, street = str(base["DistrictName"]), str(base["StreetName"])
    centre = _centre(district)
    steps = [Step(REPORTED, reported_ms, centre, _report_note(base))]
    at = _after(rng, reported_ms, 2, 30)
    if not stale and rng.random() < 0.04:
        if rng.random() < 0.5:
            steps.append(Step(REGISTERED, at, centre, "符合立案条件，予以立案。"))
            at = _after(rng, at, 60, 24 * 60)
        else:
            at = _after(rng, at, 10, 240)
        return [*steps, Step(CANCELLED, at, centre, rng.choice(_VOID_NOTES))]
    steps.append(Step(REGISTERED, at, centre, "符合立案条件，予以立案。"))
    department = department_for(category.key, district, street)
    at = _after(rng, at, 5, 45)
    steps.append(Step(DISPATCHED, at, centre, _dispatch_note(department, base), department))
    if rng.random() < 0.05:
        at = _after(rng, at, 30, 360)
        steps.append(Step(RETURNED, at, department, rng.choice(_RETURN_REASONS)))
        department = _FALLBACK_DEPARTMENT.format(street=street)
        at = _after(rng, at, 10, 60)
        steps.append(Step(DISPATCHED, at, centre, _dispatch_note(department, base), department))
    dispatched_at = at
    steps += _handling(rng, department, category, dispatched_at)
    at = steps[-1].at_ms
    if rng.random() < 0.06:
        at = _after(rng, at, 60, 480)
        steps.append(Step(REWORK, at, centre, rng.choice(_REWORK_NOTES), department))
        at = _after(rng, at, 10, 120)
        steps.append(Step(PROCESSING, at, department, "已重新安排人员处置。", department))
        at = _after(rng, at, 60, 24 * 60)
        steps.append(Step(HANDLED, at, department, result_for(category.key, rng), department))
    at = _after(rng, at, 20, 480)
    steps.append(Step(VERIFIED, at, centre, f"监督员{rng.choice(supervisors)}现场核查，问题已解决。",
                      department))
    at = _after(rng, at, 5, 120)
    steps.append(Step(CLOSED, at, centre, "核查通过，予以结案。", department))
    return steps


def _handling(rng: random.Random, department: str, category: Category, dispatched_ms: int) -> list[Step]:
    """签收, 处置中 and 已处置 by the department, paced by the time limit: 已处置 within it nine
    times in ten."""
    limit_minutes = category.limit_ms / _MINUTE
    accepted = _after(rng, dispatched_ms, 2, max(3, limit_minutes * 0.15))
    processing = _after(rng, accepted, 2, max(3, limit_minutes * 0.1))
    share = rng.uniform(0.3, 0.95) if rng.random() < 0.9 else rng.uniform(1.05, 2.0)
    handled = max(_after(rng, processing, 1, 10), _after(rng, dispatched_ms, 0, limit_minutes * share))
    return [
        Step(ACCEPTED, accepted, department, "已签收。", department),
        Step(PROCESSING, processing, department, "已安排人员现场处置。", department),
        Step(HANDLED, handled, department, result_for(category.key, rng), department),
    ]


def _report_note(base: Mapping[str, Any]) -> str:
    if base["SourceCode"] == SUPERVISOR:
        return f"监督员{base['SupervisorId']}上报。"
    return f"{base['SourceName']}，待立案。"


def _dispatch_note(department: str, base: Mapping[str, Any]) -> str:
    limit = str(base["TimeLimit"]).translate(_ASCII_DIGITS)
    return f"派遣至{department}处置，处置时限{limit}{base['TimeLimitUnit']}。"


def result_for(key: str, rng: random.Random) -> str:
    """处置结果 the department enters for a category key: by key, type and major, or type."""
    return rng.choice(_RESULTS.get(key) or _RESULTS.get(key[:5]) or _RESULTS.get(key[:2])
                      or _RESULTS[EVENT])


def snapshot(base: Mapping[str, Any], steps: list[Step], *, future: bool = False) -> Version:
    """The case file after `steps`: its status, times, department and result follow the last
    one, and its log is every step so far. `future` writes the update time with its year
    mistyped, as a system with a wrong clock does."""
    current = steps[-1]
    payload = dict(base)
    handled = [step for step in steps if step.status == HANDLED]
    registered = [step for step in steps if step.status == REGISTERED]
    result = ""
    if current.status in (HANDLED, VERIFIED, CLOSED):
        result = handled[-1].note
    elif current.status == CANCELLED:
        result = current.note
    payload.update(
        StatusCode=current.status,
        StatusName=statuses()[current.status],
        Department=current.assigned,
        RegisterTime=local_text(registered[0].at_ms) if registered else "",
        UpdateTime=mistyped_year(current.at_ms) if future else local_text(current.at_ms),
        CloseTime=local_text(current.at_ms) if current.status == CLOSED else "",
        Result=result,
        Progress=[step.element() for step in steps],
    )
    return Version(current.at_ms, payload)


def mistyped_year(at_ms: int) -> str:
    """A local time with the year's last two digits transposed when that is later (2025 →
    2052), else thirty years on: always decades ahead of the true time."""
    text = local_text(at_ms)
    year = int(text[:4])
    swapped = int(text[:2] + text[3] + text[2])
    return f"{swapped if swapped > year else year + 30:04d}{text[4:]}"


def _with_unknown_status(rng: random.Random, version: Version) -> Version:
    """The current version with a status code the system never published, in its log too."""
    code, name = rng.choice(_UNKNOWN_STATUSES)
    payload = dict(version.payload)
    progress = [dict(step) for step in payload["Progress"]]
    progress[-1].update(StatusCode=code, StatusName=name)
    payload.update(StatusCode=code, StatusName=name, Progress=progress)
    return Version(version.updated_ms, payload)


def next_status(status: str) -> str:
    """The status a busy system moves a case to next; 已结案, 已作废 and unknown codes stay."""
    return NEXT_STATUS.get(status, status)


def _key_of(payload: Mapping[str, Any]) -> str:
    """The crosswalk key of a served case file: `部件:` + digits 7–10 of a 16-digit component
    code, or `事件:` + an event's 4-digit code."""
    code = str(payload["CategoryCode"])
    return f"{payload['CaseType']}:{code[6:10] if payload['CaseType'] == COMPONENT else code}"


def touched(previous: Version, at_ms: int, rng: random.Random) -> Version:
    """The version a busy system writes when it works on a case: the next step, now, in the
    log too; a case with nowhere to go is only re-saved, its update time now."""
    payload = dict(previous.payload)
    status = str(payload["StatusCode"])
    following = next_status(status)
    wrong_clock = parse_local(str(payload["UpdateTime"])) != previous.updated_ms
    update = mistyped_year(at_ms) if wrong_clock else local_text(at_ms)
    if following == status:
        payload["UpdateTime"] = update
        return Version(at_ms, payload)
    district, street = str(payload["DistrictName"]), str(payload["StreetName"])
    department = str(payload["Department"])
    key = _key_of(payload)
    if following == DISPATCHED:
        department = (_FALLBACK_DEPARTMENT.format(street=street) if status == RETURNED
                      else department_for(key, district, street))
        step = Step(following, at_ms, _centre(district), _dispatch_note(department, payload), department)
    elif following in (VERIFIED, CLOSED, REGISTERED):
        notes = {REGISTERED: "符合立案条件，予以立案。", VERIFIED: "监督员现场核查，问题已解决。",
                 CLOSED: "核查通过，予以结案。"}
        step = Step(following, at_ms, _centre(district), notes[following], department)
    else:
        notes = {ACCEPTED: "已签收。", PROCESSING: "已安排人员现场处置。", HANDLED: result_for(key, rng)}
        step = Step(following, at_ms, department, notes[following], department)
    payload.update(
        StatusCode=following,
        StatusName=statuses()[following],
        Department=step.assigned,
        UpdateTime=update,
        Progress=[*payload["Progress"], step.element()],
    )
    if following == REGISTERED:
        payload["RegisterTime"] = local_text(at_ms)
    if following == HANDLED:
        payload["Result"] = step.note
    if following == CLOSED:
        payload["CloseTime"] = local_text(at_ms)
    return Version(at_ms, payload)
