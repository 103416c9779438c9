"""The partner manifest: every partner described once, each direction only where it applies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from casehub.errors import ConfigurationError
from casehub.partners import (
    MANIFEST_PATH,
    delivered,
    load_connector,
    load_partners,
    partner,
    pulled,
    pushing,
)

DELIVER_ONLY = """
[[partner]]
code = "city_brain"
title = "城市大脑 city brain"
protocol = "rest"
connector = "connectors.city_brain"
connection = "casehub_city_brain"
pool = "partner_city_brain"

[partner.deliver]
schedule = "0 * * * *"
batch_size = 5000
timeout_seconds = 60
"""


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partners.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_manifest_describes_every_partner_with_a_loadable_connector() -> None:
    partners = load_partners()
    assert [p.code for p in partners] == [
        "hotline",
        "message_board",
        "urban_mgmt",
        "neighborhood_app",
        "city_brain",
        "health_commission",
        "district",
        "open311",
    ]
    assert [p.directions for p in partners][3:] == [
        ("push_in", "outbox"),
        ("deliver",),
        ("deliver",),
        ("outbox",),
        ("serve_in",),
    ]
    for each in partners:
        assert each.directions, each.code
        assert each.simulator is not None, each.code
        if each.simulator.role == "server":
            assert each.simulator.port > 1024
        if each.push_in is not None:
            assert each.simulator.secret.startswith("whsec_")
        module = load_connector(each)
        if each.pull is not None or each.push_in is not None or each.serve_in is not None:
            assert module.MAPPER.channel == each.code
        if each.deliver is not None:
            assert module.RENDERER.recipient == each.recipient
            assert callable(module.build_sink)
        if each.outbox is not None and not each.outbox.pushed:
            assert module.RENDERER.recipient == each.code
    assert MANIFEST_PATH.name == "partners.toml"


def test_the_partners_delivered_to_push_on_their_schedules_to_their_simulators() -> None:
    brain, health = delivered()
    assert (brain.code, health.code) == ("city_brain", "health_commission")
    assert brain.delivered().schedule == "0 * * * *"
    assert health.delivered().schedule == "*/15 * * * *"
    assert brain.pull is None and health.pull is None and brain.protocol == health.protocol == "rest"
    assert [(p.simulator.port, p.simulator.login) for p in (brain, health) if p.simulator] == [
        (8104, "casehub"),
        (8105, "casehub"),
    ]
    assert brain.recipient == "city_brain" and health.recipient == "health_commission"
    assert brain.delivered().settle == health.delivered().settle == timedelta(minutes=2)


def test_a_deliver_only_partner_needs_no_pull_fields(tmp_path: Path) -> None:
    path = _manifest(tmp_path, DELIVER_ONLY)
    (brain,) = load_partners(path)
    assert brain.directions == ("deliver",)
    assert brain.pull is None and brain.push_in is None and brain.simulator is None
    assert pulled(path) == [] and pushing(path) == [] and delivered(path) == [brain]
    assert brain.recipient == "city_brain", "without a recipient, the code names the allow-list"
    with pytest.raises(ConfigurationError, match=r"city_brain.*not pulled"):
        brain.pulled()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("batch_size = 5000", "batch_size = 5000\ncolour = 'red'"), r"\[deliver\]: unknown field 'colour'"),
        (("batch_size = 5000\n", ""), r"\[deliver\]: field 'batch_size' is missing"),
        (("batch_size = 5000", "batch_size = '5000'"), r"field 'batch_size' has the wrong type"),
        (('protocol = "rest"', 'protocol = "fax"'), "protocol must be one of"),
        (("[partner.deliver]", "[partner.elsewhere]"), "unknown field 'elsewhere'"),
    ],
)
def test_a_malformed_entry_names_the_partner_and_the_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = _manifest(tmp_path, DELIVER_ONLY.replace(*change))
    with pytest.raises(ConfigurationError, match=r"partner #1 \(city_brain\).*" + message):
        load_partners(path)


def test_a_partner_with_no_direction_is_refused(tmp_path: Path) -> None:
    text = DELIVER_ONLY.split("[partner.deliver]")[0]
    with pytest.raises(ConfigurationError, match="no direction"):
        load_partners(_manifest(tmp_path, text))


def test_a_code_may_appear_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'city_brain' appears twice"):
        load_partners(_manifest(tmp_path, DELIVER_ONLY + DELIVER_ONLY))


def test_an_unknown_partner_lists_the_known_ones() -> None:
    known = "hotline, message_board, urban_mgmt, neighborhood_app, city_brain, health_commission"
    with pytest.raises(ConfigurationError, match=rf"no partner 'fax'.*known: {known}"):
        partner("fax")


def test_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_partners(_manifest(tmp_path, "[[partner]\n"))
