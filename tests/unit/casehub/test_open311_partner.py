"""The Open311 door in the partner manifest: a partner whose clients file requests through the
gateway (`[partner.serve_in]`), with its limits checked when the manifest is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from casehub.errors import ConfigurationError
from casehub.partners import load_connector, load_partners, partner, pushing, serving

SERVED = """
[[partner]]
code = "open311"
title = "Open311 GeoReport v2 clients"
protocol = "open311"
connector = "connectors.open311"
connection = "casehub_open311"
pool = "partner_open311"

[partner.serve_in]
path = "/open311/v2"
max_body_bytes = 65536
schedule = "*/5 * * * *"
batch_size = 500
"""


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partners.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_manifest_serves_open311_with_its_limits_and_a_mapper_of_its_channel() -> None:
    spec = partner("open311")
    assert serving() == [spec] and spec not in pushing()
    served = spec.serving()
    assert (served.path, served.window_days, served.max_records) == ("/open311/v2", 90, 1000)
    assert served.rate_per_minute >= served.rate_burst >= 1
    assert load_connector(spec).MAPPER.channel == "open311"


def test_a_served_partner_takes_the_default_limits_and_is_no_other_direction(tmp_path: Path) -> None:
    (spec,) = load_partners(_manifest(tmp_path, SERVED))
    assert spec.directions == ("serve_in",)
    assert (spec.serving().rate_per_minute, spec.serving().rate_burst) == (60, 20)
    with pytest.raises(ConfigurationError, match="pushes no webhooks"):
        spec.pushing()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('path = "/open311/v2"', 'path = "open311/v2"'), r"\[serve_in\]: path must start with /"),
        (("batch_size = 500", "batch_size = 0"), "every limit be positive"),
        (("batch_size = 500", "batch_size = 500\nwindow_days = -1"), "every limit be positive"),
        (("batch_size = 500", "batch_size = 500\nrate_burst = '5'"), "field 'rate_burst' has the wrong type"),
        (("batch_size = 500\n", ""), r"\[serve_in\]: field 'batch_size' is missing"),
    ],
)
def test_a_wrong_serve_in_table_names_the_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_partners(_manifest(tmp_path, SERVED.replace(*change)))
