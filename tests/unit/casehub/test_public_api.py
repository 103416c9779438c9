from __future__ import annotations

import casehub


def test_every_exported_name_resolves() -> None:
    for name in casehub.__all__:
        assert getattr(casehub, name) is not None, name


def test_all_is_sorted_and_complete() -> None:
    assert casehub.__all__ == sorted(casehub._EXPORTS)
    assert set(dir(casehub)) == set(casehub.__all__)


def test_importing_the_package_stays_light() -> None:
    import subprocess
    import sys

    heavy = "('sqlalchemy', 'great_expectations', 'zeep', 'pandas')"
    probe = f"import sys, casehub.partners; print(','.join(m for m in {heavy} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
