"""The one registry of reason codes kept with a quarantined record.

Quality officers filter the quarantine on these codes, and replay by them, so they are stable:
a code is added, never renamed. Each names what is wrong; the reason's `field` says where (the
partner's field name, or a JSON pointer into the unified case or the raw record), and its
message says it in words, never quoting the value.

The JSON Schema's own errors come as `schema_<keyword>` (`schema_maxLength`, `schema_pattern`,
…, see `casehub.contract`); those are not listed here, since the schema file names them.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # What a mapper finds in a partner's field.
    MISSING_FIELD = "missing_field"  # a required field is empty or absent
    MISSING_ID = "missing_id"  # the record's id is empty or absent
    INVALID_ID = "invalid_id"  # the id is too long to store whole, or holds spaces
    UNKNOWN_CATEGORY = "unknown_category"  # a code the channel's crosswalk does not know
    UNKNOWN_STATUS = "unknown_status"
    UNKNOWN_NATURE = "unknown_nature"
    UNKNOWN_DISTRICT = "unknown_district"
    UNKNOWN_COMMUNITY = "unknown_community"  # a community code that is not a community of the regions
    INVALID_PHONE = "invalid_phone"
    INVALID_ID_NUMBER = "invalid_id_number"  # resident ID: form, check digit or birth date
    INVALID_TIME = "invalid_time"  # not a time, or outside the years a case can have
    INVALID_COORDINATES = "invalid_coordinates"
    INVALID_VALUE = "invalid_value"  # wrong JSON type, a control character, outside a closed list
    OUTSIDE_CITY = "outside_city"  # coordinates outside Wuhan
    UNKNOWN_GRID = "unknown_grid"  # a unit grid (单元网格) whose street, community or grid the regions lack
    INVALID_CATEGORY_CODE = "invalid_category_code"  # 部件 not 16 digits or of another district, 事件 not 4
    FAR_FROM_COMMUNITY = "far_from_community"  # a pin inside Wuhan but far from its community's centre
    # What the pipeline finds about the record as a whole.
    FUTURE_TIME = "future_time"  # the update time is ahead of the hub's clock beyond the tolerance
    NOT_AN_OBJECT = "not_an_object"  # the page's item is a number, a string, a list or null
    UNREADABLE_RECORD = "unreadable_record"  # the bytes are not JSON (encoding, nesting, NaN)
    UNENCODABLE_VALUE = "unencodable_value"  # JSON the store's canonical form cannot hold
    MAPPING_FAILED = "mapping_failed"  # the mapper raised on a value it did not expect
    STORE_REJECTED = "store_rejected"  # the store refused a value the checks let through
    # What enrichment had to assume (warnings: the case is accepted all the same).
    UNMAPPED_CATEGORY = "unmapped_category"  # no crosswalk row for the code: classified as 其他诉求
    UNKNOWN_REGION = "unknown_region"  # a street, community or grid code the regions do not know
    CALENDAR_UNKNOWN = "calendar_unknown"  # the holiday calendar lacks the year: Monday to Friday counted
