"""`docker compose up` for real: the image built from the Dockerfile, the services of
docker-compose.yml with their healthchecks, a login through the OpenID provider, a
flip through the admin API, and sessions that outlive the Redis container.

Everything runs on loopback (tests/deploy/compose.loopback.yml); see conftest.py
for when these tests skip.
"""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.settings import GatewaySettings
from tests.deploy.compose_stack import (
    FLIP,
    HEALTH_PATH,
    PS,
    READY_PATH,
    SERVICES,
    ComposeStack,
    doctor_command,
    flip_command,
)
from tests.gateway.test_end_to_end import log_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ADMIN_PREFIX = "/_gateway"
# The admin API's own listener (GATEWAY_ADMIN_LISTEN). A gateway that does not know
# the setting yet ignores the variable and serves the admin API on the public port.
ADMIN_LISTENER = "admin_listen" in GatewaySettings.model_fields
GATEWAY_WORKERS = 2  # --workers of the gateway service
WAIT = 15.0


def admin_url(stack: ComposeStack) -> str:
    """Where the operator reaches the admin API in this stack."""
    return stack.admin_listener_url if ADMIN_LISTENER else stack.gateway_url


def bearer(stack: ComposeStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.secrets['GATEWAY_ADMIN_TOKEN']}"}


def flags_of_every_worker(stack: ComposeStack) -> dict[int, dict[str, str]]:
    """The flag table each gateway worker holds: one new connection per request, so
    that the kernel hands them to different workers, until each has answered."""
    seen: dict[int, dict[str, str]] = {}
    for _ in range(100):
        response = httpx.get(
            f"{admin_url(stack)}{ADMIN_PREFIX}/flags", headers=bearer(stack), timeout=10
        )
        assert response.status_code == 200, response.text
        seen[response.json()["pid"]] = response.json()["flags"]
        if len(seen) == GATEWAY_WORKERS:
            return seen
    raise AssertionError(f"only workers {sorted(seen)} answered 100 requests")


def test_every_service_has_a_healthcheck_and_reports_healthy(stack: ComposeStack) -> None:
    assert stack.health() == dict.fromkeys(SERVICES, "healthy")


def test_compose_ps_shows_every_service_healthy(stack: ComposeStack) -> None:
    listing = stack.compose(*PS, timeout=30).splitlines()
    for service in SERVICES:
        rows = [row for row in listing if f"{stack.project}_{service}_1" in row
                or f"{stack.project}-{service}-1" in row]  # fmt: skip
        assert len(rows) == 1 and "(healthy)" in rows[0], (service, listing)


def test_the_app_services_run_as_an_unprivileged_user(stack: ComposeStack) -> None:
    for service in ("oidc", "legacy", "gateway"):
        assert stack.compose("exec", "-T", service, "id", "-un", timeout=30).strip() == "app"


def test_every_volume_is_a_named_one_that_down_volumes_removes(stack: ComposeStack) -> None:
    """An anonymous volume (a VOLUME of the image no service mounts) survives
    ``down --volumes`` and a new one is made on every ``up``."""
    for service, container in stack.containers().items():
        for mount in container["Mounts"]:  # type: ignore[index, union-attr]
            if mount["Type"] == "volume":  # type: ignore[index]
                assert mount["Name"].startswith(f"{stack.project}_"), (service, mount)  # type: ignore[index]


def test_the_public_port_answers_health(stack: ComposeStack) -> None:
    response = httpx.get(f"{stack.gateway_url}{HEALTH_PATH}", timeout=10)
    assert response.status_code == 200, response.text


def test_the_public_port_answers_ready_which_the_healthcheck_asks(stack: ComposeStack) -> None:
    response = httpx.get(f"{stack.gateway_url}{READY_PATH}", timeout=10)
    assert response.status_code == 200, response.text


def test_the_doctor_finds_nothing_wrong_with_the_stack_as_shipped(stack: ComposeStack) -> None:
    # The documented command, inside the gateway container, against every worker it reaches.
    output = stack.compose(*doctor_command(admin_url(stack)), timeout=120)
    assert "no problems found" in output, output


def test_a_user_logged_in_on_legacy_stays_logged_in_after_a_flip(stack: ComposeStack) -> None:
    gateway = stack.gateway_url
    route, flag = FLIP
    with httpx.Client(timeout=10) as client:
        log_in(client, gateway, "alice")
        on_legacy = client.get(f"{gateway}/profile")
        assert on_legacy.status_code == 200, on_legacy.text
        assert on_legacy.headers["x-served-by"] == "legacy"
        assert "alice" in on_legacy.text

        # As docs/deployment.md shows: the CLI in the gateway container, its token.
        stack.compose(*flip_command(route, flag, admin_url(stack)), timeout=60)

        # Every gunicorn worker of the gateway hears of the flip through Redis.
        deadline = time.monotonic() + WAIT
        while True:
            workers = flags_of_every_worker(stack)
            if all(flags.get(route) == flag for flags in workers.values()):
                break
            assert time.monotonic() < deadline, f"workers' flags: {workers}"
            time.sleep(0.2)

        on_new = client.get(f"{gateway}/profile")
        assert on_new.status_code == 200, on_new.text
        assert on_new.headers["x-served-by"] == "new"
        assert "alice" in on_new.text


def test_the_admin_api_refuses_a_request_without_the_token(stack: ComposeStack) -> None:
    response = httpx.put(
        f"{admin_url(stack)}{ADMIN_PREFIX}/flags/{FLIP[0]}", json={"flag": "new"}, timeout=10
    )
    assert response.status_code == 401, response.text


@pytest.mark.skipif(not ADMIN_LISTENER, reason="the gateway has no admin_listen setting yet")
def test_the_admin_api_answers_on_its_listener_and_not_on_the_public_port(
    stack: ComposeStack,
) -> None:
    public = httpx.get(f"{stack.gateway_url}{ADMIN_PREFIX}/flags", headers=bearer(stack))
    assert public.status_code == 404, public.text
    listener = httpx.get(f"{stack.admin_listener_url}{ADMIN_PREFIX}/flags", headers=bearer(stack))
    assert listener.status_code == 200, listener.text


def test_sessions_outlive_the_redis_container(stack: ComposeStack) -> None:
    gateway = stack.gateway_url
    with httpx.Client(timeout=10) as client:
        log_in(client, gateway, "bob")
        assert "bob" in client.get(f"{gateway}/profile").text
        before = stack.containers()["redis"]["Id"]

        # A new container on the same named volume: only the append-only file remains.
        stack.compose("rm", "--stop", "--force", "redis", timeout=60)
        stack.compose("up", "--detach", "redis", timeout=60)
        stack.wait_healthy(("redis",))
        assert stack.containers()["redis"]["Id"] != before

        deadline = time.monotonic() + WAIT
        while (profile := client.get(f"{gateway}/profile")).status_code in (502, 503):
            assert time.monotonic() < deadline, profile.text  # reconnecting to Redis
            time.sleep(0.2)
        assert profile.status_code == 200, f"{profile.status_code} {profile.headers}"
        assert "bob" in profile.text
