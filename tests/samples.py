"""Realistic raw partner records for tests that need one without a simulator."""

from __future__ import annotations

from typing import Any


def work_order(**changes: str) -> dict[str, Any]:
    """A hotline work order (工单) exactly as the SOAP service sends it: strings, empties for null."""
    order = {
        "GDBH": "WH20261120000001",
        "LDSJ": "2026-11-20 08:30:00",
        "LDRXM": "张明",
        "LDHM": "+86 138 0013 8000",
        "LXDH": "",
        "SFZHM": "",
        "SQLX": "投诉",
        "BT": "小区楼下烧烤店油烟扰民",
        "SQNR": "江岸区解放大道1000号楼下烧烤店每天营业到凌晨，油烟和噪音很大，希望有关部门处理。",
        "SSQX": "江岸",
        "FSDZ": "江岸区解放大道1000号",
        "YWLBDM": "HL0101",
        "YWLBMC": "占道经营",
        "JJCD": "一般",
        "BLSX": "5",
        "GDZT": "02",
        "GXSJ": "2026-11-20 09:00:00",
        "BJSJ": "",
        "BLJG": "",
        "MYD": "",
    }
    order.update(changes)
    return order


def board_message(**changes: Any) -> dict[str, Any]:
    """A replied message board message (留言) as the REST API sends it: camelCase, epoch ms, BD-09."""
    message = {
        "id": 880123,
        "title": "小区门口路灯不亮",
        "content": "我家小区门口的路灯已经坏了一个多月，晚上出行很不方便，希望尽快维修。",
        "msgType": "求助",
        "createTime": 1764120600000,
        "updateTime": 1764207000000,
        "nickName": "江城老李",
        "phone": "+86 18672345678",
        "areaName": "江汉区",
        "address": "江汉路步行街附近",
        "typeId": 102,
        "typeName": "城市管理",
        "status": "已回复",
        "replyContent": "已安排维修人员更换灯具。",
        "replyOrg": "江汉区城管执法局",
        "replyTime": 1764205200000,
        "longitude": 114.311652,
        "latitude": 30.599226,
    }
    message.update(changes)
    return message


def report(**changes: Any) -> dict[str, Any]:
    """A rated community app report (居民报事), the `data` of its webhook: camelCase, +08:00, GCJ-02."""
    data = {
        "reportId": "WLL20250303000340",
        "reportType": "建议",
        "categoryCode": "WL0701",
        "categoryName": "居家养老",
        "title": "团结里建议增设老年食堂",
        "content": "您好，团结里社区老人多，子女白天上班，老人吃饭不方便，建议社区开设老年食堂或助餐点。",
        "reporterName": "刘旭",
        "reporterPhone": "18045667651",
        "communityCode": "420103002002",
        "communityName": "团结里社区",
        "address": "江汉区花楼街道团结里社区15栋5单元1403室",
        "location": {"lng": 114.293281, "lat": 30.579934},
        "status": "已评价",
        "handlingUnit": "花楼街道社区养老服务中心",
        "handlingResult": "花楼街道社区养老服务中心已安排网格员上门核实，问题已处理完毕，并向居民反馈。",
        "satisfaction": "满意",
        "createdAt": "2025-03-03T17:16:43+08:00",
        "updatedAt": "2025-03-05T08:42:02+08:00",
    }
    data.update(changes)
    return data


def _step(at: str, status: str, name: str, department: str, note: str) -> dict[str, str]:
    return {"StepTime": at, "StatusCode": status, "StatusName": name, "Department": department, "Note": note}


def case_file(**changes: Any) -> dict[str, Any]:
    """A closed digital urban management case file (案卷) as the SOAP service sends it: strings,
    empties for null, a 部件 code, a unit grid, EPSG:4547 metres and its progress log inline."""
    centre, department = "江汉区城市管理监督指挥中心", "江汉区水务和湖泊局"
    dispatched = f"派遣至{department}处置，处置时限2工作日。"
    record = {
        "CaseNo": "CG261120000358",
        "SourceCode": "03",
        "SourceName": "12345转办",
        "CaseType": "部件",
        "CategoryCode": "4201030102000358",
        "MajorName": "公用设施",
        "MinorName": "污水井盖",
        "GridCode": "42010300100101",
        "DistrictName": "江汉区",
        "StreetName": "民族街道",
        "CommunityName": "新城里社区",
        "CoordX": "527058.44",
        "CoordY": "3384732.79",
        "Address": "江汉区民族街道友谊路58号门前",
        "Description": "12345热线转办：来电人反映江汉区民族街道友谊路58号门前污水井盖破损，请相关部门处理。",
        "ReporterName": "李娟",
        "ReporterPhone": "+86 139 0712 3456",
        "SupervisorId": "",
        "StatusCode": "08",
        "StatusName": "已结案",
        "Department": department,
        "TimeLimit": "2",
        "TimeLimitUnit": "工作日",
        "ReportTime": "2026-11-20 08:30:00",
        "RegisterTime": "2026-11-20 08:52:10",
        "UpdateTime": "2026-11-21 18:10:00",
        "CloseTime": "2026-11-21 18:10:00",
        "Result": "已更换新井盖，恢复正常。",
        "Progress": {
            "Step": [
                _step("2026-11-20 08:30:00", "01", "待立案", centre, "12345转办，待立案。"),
                _step("2026-11-20 08:52:10", "02", "已立案", centre, "符合立案条件，予以立案。"),
                _step("2026-11-20 09:05:00", "03", "已派遣", centre, dispatched),
                _step("2026-11-20 09:40:00", "04", "已签收", department, "已签收。"),
                _step("2026-11-20 10:05:00", "05", "处置中", department, "已安排人员现场处置。"),
                _step("2026-11-21 15:20:00", "06", "已处置", department, "已更换新井盖，恢复正常。"),
                _step("2026-11-21 17:45:00", "07", "已核查", centre, "监督员JDY03012现场核查，问题已解决。"),
                _step("2026-11-21 18:10:00", "08", "已结案", centre, "核查通过，予以结案。"),
            ]
        },
    }
    record.update(changes)
    return record
