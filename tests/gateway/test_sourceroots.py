"""Two apps whose top-level modules collide (auth, config, utils), in one gateway process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_gateway
from gateway.loading import AppLoadError, load_asgi_app, load_flask_app
from gateway.sourceroots import forget
from tests.gateway.support import serve, settings_for
from tests.gateway.twoapps import write_both

COLLIDING = ("auth", "auth.routes", "config", "utils", "helpers")


@pytest.fixture
def roots(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    before = {name: sys.modules.get(name) for name in COLLIDING}
    legacy_root, new_root = write_both(tmp_path)
    yield legacy_root, new_root
    forget(legacy_root)
    forget(new_root)
    for name, module in before.items():  # leave sys.modules as the test found it
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


def test_without_source_roots_the_second_app_gets_the_first_apps_modules(
    roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy_root, new_root = roots
    monkeypatch.syspath_prepend(str(new_root))
    monkeypatch.syspath_prepend(str(legacy_root))
    load_flask_app("webapp:create_app()")
    with pytest.raises(AppLoadError, match="auth"):
        load_asgi_app("service:app")  # finds the legacy app's auth package: no auth.routes.router


def test_each_app_loads_from_its_own_root_in_one_gateway(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    legacy_root, new_root = roots
    settings = settings_for(
        tmp_path,
        legacy_app="webapp:create_app()",
        legacy_source_root=legacy_root,
        new_app="service:app",
        new_source_root=new_root,
        flags={"auth.login": "legacy"},
    )
    gateway = create_gateway(settings)
    with serve(gateway) as url:
        legacy = httpx.get(f"{url}/auth/login")
        flip = httpx.put(f"{url}/_gateway/flags/auth.login", json={"flag": "new"})
        new = httpx.get(f"{url}/auth/login")
        later = httpx.get(f"{url}/auth/later")
    assert legacy.text == "LEGACY login"
    assert flip.status_code == 200, flip.text
    assert new.text == "NEW! login"
    assert later.text == "legacy helpers"  # a request-time import finds the app's module
    assert "config" not in sys.modules or "legacy" not in str(sys.modules["config"])


def test_request_time_import_of_a_name_both_roots_own_is_a_clear_error(
    roots: tuple[Path, Path],
) -> None:
    legacy_root, new_root = roots
    load_flask_app("webapp:create_app()", legacy_root)
    load_asgi_app("service:app", new_root)
    sys.modules.pop("utils", None)
    with pytest.raises(ImportError, match="several app source roots"):
        __import__("utils")


def test_a_source_root_that_is_no_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match="not a directory"):
        load_flask_app("webapp:create_app()", tmp_path / "missing")


def test_source_roots_come_from_the_environment(
    roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.settings import GatewaySettings

    legacy_root, new_root = roots
    monkeypatch.setenv("GATEWAY_LEGACY_APP", "webapp:create_app()")
    monkeypatch.setenv("GATEWAY_LEGACY_SOURCE_ROOT", str(legacy_root))
    monkeypatch.setenv("GATEWAY_NEW_APP", "service:app")
    monkeypatch.setenv("GATEWAY_NEW_SOURCE_ROOT", str(new_root))
    monkeypatch.setenv("GATEWAY_REDIS_URL", "")
    settings = GatewaySettings(flag_cache_path=None)
    gateway = create_gateway(settings)
    assert "auth.login" in gateway.rules.routes.legacy_endpoints
