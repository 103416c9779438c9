"""Pull case files (案卷) from digital urban management (数字城管) over SOAP 1.1.

The contract is the vendored WSDL `schemas/wsdl/urban_mgmt.wsdl`: `QueryCaseFiles` takes a window
of UpdateTime 更新时间 as local times (StartTime inclusive, EndTime exclusive), a page number
(PageNo) and a page size (PageSize, 1–500), and answers the total (Total) and the page's case
files (CaseFiles/CaseFile), ordered by UpdateTime then CaseNo. Each case file carries its whole
progress log inline (`Progress/Step`), so one case file is one raw record and a new step is a
new version of it. Its own fault detail code `ServiceFault/ErrorCode` says `ServiceUnavailable`
(transient) or `FailedAuthentication` (permanent). Paging, retries, bounds and the mapping of
every failure onto the error tree are the kit's (`connectors.kit.soap`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casehub.normalize import SHANGHAI
from casehub.paths import SCHEMAS_DIR
from casehub.ports import Window
from connectors.kit.soap import SoapSource
from connectors.urban_mgmt.mapping import UrbanMgmtMapper

NAMESPACE = "urn:wuhan:szcg:casefile:v1"
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _local_time(moment: datetime) -> str:
    """A window bound as the system writes times: Asia/Shanghai local time, no offset."""
    return moment.astimezone(SHANGHAI).strftime(LOCAL_TIME_FORMAT)


class UrbanMgmtSource(SoapSource):
    """QueryCaseFiles, page by page: each record a `CaseFile`'s elements as strings, and its
    `Progress` as `{"Step": [step, …]}`, each step a dict of its elements as strings."""

    mapper = UrbanMgmtMapper()
    operation = "QueryCaseFiles"
    max_page_size = 500
    wsdl = SCHEMAS_DIR / "wsdl" / "urban_mgmt.wsdl"
    binding = f"{{{NAMESPACE}}}CaseFileBinding"
    record_type = f"{{{NAMESPACE}}}CaseFile"
    total_element = "Total"
    list_elements = ("CaseFiles", "CaseFile")
    detail_element = "ErrorCode"
    transient_details = frozenset({"ServiceUnavailable"})
    authentication_details = frozenset({"FailedAuthentication"})

    def request(self, window: Window, page: int, size: int) -> dict[str, Any]:
        return {
            "StartTime": _local_time(window.start),
            "EndTime": _local_time(window.end),
            "PageNo": page,
            "PageSize": size,
        }
