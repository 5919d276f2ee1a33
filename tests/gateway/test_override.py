"""Staff override: forces a side only with the right secret; anything else is ignored."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from gateway.app import create_gateway
from gateway.override import Override, sign_override
from tests.gateway.support import EchoBackend, serve, settings_for

SECRET = "override-secret"


def gateway(tmp_path: Path, **overrides: object) -> object:
    values: dict[str, object] = {"override_secret": SECRET, "flags": {"prices": "legacy"}}
    values.update(overrides)
    settings = settings_for(tmp_path, **values)
    return create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )


def test_signed_header_forces_the_new_side(tmp_path: Path) -> None:
    with serve(gateway(tmp_path)) as url:
        response = httpx.get(
            f"{url}/prices/1.5", headers={"X-Gateway-Force": sign_override(SECRET, "new")}
        )
    assert response.headers["x-served-by"] == "new"


def test_signed_cookie_forces_the_legacy_side(tmp_path: Path) -> None:
    with serve(gateway(tmp_path, flags={"prices": "new"})) as url:
        cookie = f"gw_force={sign_override(SECRET, 'legacy')}"
        response = httpx.get(f"{url}/prices/1.5", headers={"Cookie": cookie})
    assert response.headers["x-served-by"] == "legacy"


def test_override_beats_a_canary(tmp_path: Path) -> None:
    with serve(gateway(tmp_path, flags={"prices": "canary 0"})) as url:
        response = httpx.get(
            f"{url}/prices/1.5", headers={"X-Gateway-Force": sign_override(SECRET, "new")}
        )
    assert response.headers["x-served-by"] == "new"


@pytest.mark.parametrize(
    "value",
    [
        "new",
        "new:",
        "new:" + "0" * 64,
        sign_override("another-secret", "new"),
        sign_override(SECRET, "legacy").replace("legacy", "new", 1),
        "new:" + sign_override(SECRET, "new"),
        "\xff" * 300,
    ],
)
def test_unsigned_or_wrongly_signed_overrides_are_ignored_and_logged(
    tmp_path: Path, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.override")
    with serve(gateway(tmp_path)) as url:
        response = httpx.get(
            f"{url}/prices/1.5", headers={"X-Gateway-Force": value.encode("latin-1")}
        )
    assert response.status_code == 200
    assert response.headers["x-served-by"] == "legacy"
    assert any("ignored gateway override" in r.getMessage() for r in caplog.records)


def test_without_a_secret_no_override_is_accepted(tmp_path: Path) -> None:
    with serve(gateway(tmp_path, override_secret=None)) as url:
        response = httpx.get(
            f"{url}/prices/1.5", headers={"X-Gateway-Force": sign_override(SECRET, "new")}
        )
    assert response.headers["x-served-by"] == "legacy"


def test_override_checks_are_constant_shape() -> None:
    override = Override(SECRET)
    assert override.check(sign_override(SECRET, "new")) == "new"
    assert override.check(sign_override(SECRET, "legacy")) == "legacy"
    assert override.check(None) is None
    assert Override(None).check(sign_override(SECRET, "new")) is None
    with pytest.raises(ValueError, match="side must be"):
        sign_override(SECRET, "shadow")  # type: ignore[arg-type]
