"""``migrate-gateway doctor``: real apps, real Redis, a real gunicorn gateway for --url.

Each test builds a configuration with one known mistake and runs the command as a
user does (a subprocess of the installed script), reading its JSON; the sound
configuration next to it finds nothing and exits 0.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.doctor import ForwardedProbe, redact_url, redis_reachable, workers_disagree
from gateway.doctor_facts import probe_redis
from tests.processes import BIN, ROOT, ServerProcess, gunicorn_gateway
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.slow

LEGACY = "tests.gateway.doctor_apps:create_flask()"
NEW = "tests.gateway.doctor_apps:create_fastapi()"


def strong() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def sound(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    """A configuration with nothing wrong: one key, one Redis, a long admin token."""
    key = strong()
    return {
        "GATEWAY_LEGACY_APP": LEGACY,
        "GATEWAY_NEW_APP": NEW,
        "GATEWAY_ADMIN_TOKEN": strong(),
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "REDIS_URL": redis_url,
        "SHARED_SESSION_KEY_PREFIX": key_prefix,
        "DOCTOR_LEGACY_KEY": key,
        "DOCTOR_NEW_KEY": key,
    }


def doctor(env: dict[str, str], *args: str, cwd: Path = ROOT) -> tuple[int, dict[str, object]]:
    """Run the command with only ``env`` as configuration; (exit code, its JSON)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "DOCTOR_"))}
    base.pop("REDIS_URL", None)
    base.pop("SHARED_SESSION_KEY_PREFIX", None)
    done = subprocess.run(
        [str(BIN / "migrate-gateway"), "doctor", "--json", *args],
        env={**base, "PYTHONPATH": str(ROOT), **env}, cwd=cwd,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def codes(report: dict[str, object]) -> list[str]:
    return [f["code"] for f in report["findings"]]  # type: ignore[attr-defined,index]


def test_a_sound_configuration_has_no_findings_and_exits_zero(sound: dict[str, str]) -> None:
    code, report = doctor(sound, "--workers", "4")
    assert (code, report["findings"], report["ok"]) == (0, [], True)


def test_the_text_report_gives_each_finding_with_its_fix(sound: dict[str, str]) -> None:
    env = {**sound, "DOCTOR_NEW_KEY": strong()}
    done = subprocess.run(
        [str(BIN / "migrate-gateway"), "doctor"], env={**os.environ, **env}, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.startswith("source: local settings")  # as every command, first
    assert "problem (different-signing-keys)" in done.stdout
    assert "fix: give both the same keys" in done.stdout


def test_apps_signing_with_different_keys_are_found(sound: dict[str, str]) -> None:
    code, report = doctor({**sound, "DOCTOR_NEW_KEY": strong()})
    assert code == 1
    assert codes(report) == ["different-signing-keys", "different-signing-keys"]


def test_a_rotated_key_both_sides_still_verify_is_not_a_finding(sound: dict[str, str]) -> None:
    # Different newest keys are a finding; the doctor signs and verifies for real.
    code, report = doctor(sound)
    assert code == 0, report


@pytest.mark.parametrize(
    ("variable", "value"), [("DOCTOR_NEW_COOKIE", "sid"), ("DOCTOR_NEW_SAMESITE", "strict")]
)
def test_cookie_settings_that_disagree_are_found(
    sound: dict[str, str], variable: str, value: str
) -> None:
    code, report = doctor({**sound, variable: value})
    assert code == 1
    assert codes(report) == ["cookie-settings-disagree"]
    assert "SHARED_SESSION_COOKIE_" in report["findings"][0]["fix"]  # type: ignore[index]


def test_an_unreachable_redis_is_found(sound: dict[str, str]) -> None:
    code, report = doctor({**sound, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert code == 1
    assert set(codes(report)) == {"redis-unreachable"}
    assert len(codes(report)) == 3  # flags and both apps' sessions


def test_apps_keeping_sessions_in_different_redis_servers_are_found(
    sound: dict[str, str], redis_server: RedisServer
) -> None:
    code, report = doctor({**sound, "DOCTOR_NEW_REDIS": redis_server.url})
    assert code == 1
    assert "redis-not-shared" in codes(report)


def test_flags_in_memory_with_several_workers_are_found(sound: dict[str, str]) -> None:
    env = {k: v for k, v in sound.items() if k != "REDIS_URL"}
    one = doctor(env, "--workers", "1")
    several = doctor(env, "--workers", "3")
    assert "flags-in-memory" not in codes(one[1])
    assert several[0] == 1 and "flags-in-memory" in codes(several[1])
    assert "sessions-in-memory" in codes(several[1])


def test_one_process_serving_both_apps_may_keep_everything_in_memory(
    sound: dict[str, str],
) -> None:
    env = {k: v for k, v in sound.items() if k != "REDIS_URL"}
    assert doctor(env, "--workers", "1") == (0, {"ok": True, "workers_seen": 1, "findings": []})


def test_sessions_in_memory_with_the_legacy_app_upstream_are_found(sound: dict[str, str]) -> None:
    # The legacy app runs in its own process: a memory store is not shared with it.
    env = {k: v for k, v in sound.items() if k not in ("REDIS_URL", "GATEWAY_LEGACY_APP")}
    env |= {"GATEWAY_LEGACY_UPSTREAM": "http://127.0.0.1:9", "GATEWAY_LEGACY_URL_MAP": LEGACY}
    code, report = doctor(env, "--workers", "1")
    assert code == 1
    assert codes(report) == ["sessions-in-memory"]


def test_untrusted_forwarded_headers_behind_a_proxy_are_found(sound: dict[str, str]) -> None:
    untrusted = doctor(sound, "--behind-proxy")
    trusted = doctor(sound, "--behind-proxy", "--forwarded-allow-ips", "10.0.0.5")
    assert codes(untrusted[1]) == ["forwarded-headers-untrusted"]
    assert "--forwarded-allow-ips" in untrusted[1]["findings"][0]["fix"]  # type: ignore[index]
    assert trusted == (0, {"ok": True, "workers_seen": 1, "findings": []})


def test_an_open_admin_api_and_a_short_token_are_found(sound: dict[str, str]) -> None:
    opened = {k: v for k, v in sound.items() if k != "GATEWAY_ADMIN_TOKEN"}
    assert codes(doctor({**opened, "GATEWAY_ADMIN_OPEN": "true"})[1]) == ["admin-api-open"]
    assert codes(doctor({**sound, "GATEWAY_ADMIN_TOKEN": "admin"})[1]) == ["admin-token-weak"]


def test_the_development_secret_is_found(sound: dict[str, str], tmp_path: Path) -> None:
    # The key `make run` generated in this checkout (var/dev-secret-key), reused.
    (tmp_path / "var").mkdir()
    dev_key = strong()
    (tmp_path / "var" / "dev-secret-key").write_text(dev_key + "\n")
    env = {**sound, "DOCTOR_LEGACY_KEY": dev_key, "DOCTOR_NEW_KEY": dev_key}
    code, report = doctor(env, cwd=tmp_path)
    assert code == 1
    assert codes(report) == ["development-secret", "development-secret"]
    published = {**sound, "DOCTOR_LEGACY_KEY": "change-me", "DOCTOR_NEW_KEY": "change-me"}
    assert set(codes(doctor(published)[1])) == {"development-secret"}


def test_a_published_secret_is_reported_with_what_it_lets_anyone_do(sound: dict[str, str]) -> None:
    env = {**sound, "DOCTOR_LEGACY_KEY": "change-me", "GATEWAY_ADMIN_TOKEN": "changeme"}
    findings = doctor(env)[1]["findings"]
    said = {
        f["fix"].split()[1]: f["problem"] for f in findings if f["code"] == "development-secret"
    }  # type: ignore[index, union-attr]
    assert "flip routes" in said["GATEWAY_ADMIN_TOKEN"], said
    assert "sign session" not in said["GATEWAY_ADMIN_TOKEN"], said
    assert "sign session cookies" in said["SECRET_KEY"], said


def test_the_reference_pair_as_make_run_would_misconfigure_it_is_found(
    sound: dict[str, str],
) -> None:
    # The reference apps both sign with SECRET_KEY: a published one is found on each.
    env = {
        **sound,
        "GATEWAY_LEGACY_APP": "legacy_flask:create_app()",
        "GATEWAY_NEW_APP": "new_fastapi:create_app()",
        "SECRET_KEY": "change-me",
    }
    code, report = doctor(env, "--workers", "2")
    assert code == 1
    assert codes(report) == ["development-secret", "development-secret"]


def test_no_apps_configured_is_an_error_not_a_traceback() -> None:
    done = subprocess.run(
        [str(BIN / "migrate-gateway"), "doctor"],
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no apps configured" in done.stderr and "Traceback" not in done.stderr


def test_workers_that_see_different_redis_servers_disagree() -> None:
    assert workers_disagree(["a", "a"], "flags") == []
    (finding,) = workers_disagree(["a", None], "flags")
    assert finding.code == "redis-not-shared"


# -- a running gateway (--url) ---------------------------------------------------------


@pytest.fixture
def running(tmp_path: Path, sound: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    yield from start_gateway(tmp_path, sound, "--forwarded-allow-ips", "10.9.9.9")


def start_gateway(
    tmp_path: Path, env: dict[str, str], *extra: str
) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "DOCTOR_"))}
    base.pop("REDIS_URL", None)
    server = ServerProcess(
        gunicorn_gateway(port, 2, *extra), tmp_path / "gateway.log", {**base, **env}
    )
    server.env = {"GATEWAY_DRAIN_SECONDS": "0", **base, **env}
    with server:
        server.wait_for(f"http://127.0.0.1:{port}/_gateway/ready")
        yield f"http://127.0.0.1:{port}", env


def test_a_sound_running_gateway_has_no_findings(running: tuple[str, dict[str, str]]) -> None:
    url, env = running
    code, report = doctor(env, "--url", url)
    assert (code, report["findings"]) == (0, [])
    assert report["workers_seen"] >= 1


def test_a_running_gateway_whose_apps_sign_differently_is_found(
    tmp_path: Path, sound: dict[str, str]
) -> None:
    env = {**sound, "DOCTOR_NEW_KEY": strong()}
    for url, _ in start_gateway(tmp_path, env):
        token_only = {"GATEWAY_ADMIN_TOKEN": env["GATEWAY_ADMIN_TOKEN"]}
        code, report = doctor(token_only, "--url", url)
        assert code == 1
        assert set(codes(report)) == {"different-signing-keys"}


def test_a_running_gateway_with_an_open_admin_api_is_found(
    tmp_path: Path, sound: dict[str, str]
) -> None:
    env = {k: v for k, v in sound.items() if k != "GATEWAY_ADMIN_TOKEN"}
    for url, _ in start_gateway(tmp_path, {**env, "GATEWAY_ADMIN_OPEN": "true"}):
        code, report = doctor({}, "--url", url)
        assert code == 1
        assert set(codes(report)) == {"admin-api-open"}
        assert len(codes(report)) == 2  # the worker's settings, and an anonymous GET answered


def test_replicas_that_use_different_redis_servers_are_found(
    tmp_path: Path, sound: dict[str, str], redis_server: RedisServer
) -> None:
    # Two replicas of one deployment, one of them pointed at another Redis by mistake.
    other = {**sound, "REDIS_URL": redis_server.url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for first, _ in start_gateway(tmp_path / "a", sound):
        for second, _ in start_gateway(tmp_path / "b", other):
            token = {"GATEWAY_ADMIN_TOKEN": sound["GATEWAY_ADMIN_TOKEN"]}
            same = doctor(token, "--url", first, "--url", first)
            split = doctor(token, "--url", first, "--url", second)
    assert same[0] == 0, same
    assert split[0] == 1
    assert set(codes(split[1])) == {"redis-not-shared"}
    assert len(codes(split[1])) == 2  # flags and sessions


def test_the_doctor_endpoint_needs_the_admin_token(running: tuple[str, dict[str, str]]) -> None:
    url, _ = running
    assert httpx.get(f"{url}/_gateway/doctor").status_code == 401
    done = subprocess.run(
        [str(BIN / "migrate-gateway"), "doctor", "--url", url, "--token", "wrong-token"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "401" in done.stderr and "Traceback" not in done.stderr


def test_proxy_headers_the_server_does_not_trust_are_found(
    running: tuple[str, dict[str, str]],
) -> None:
    # The server trusts 10.9.9.9 only; a proxy on loopback forwards a client's request.
    url, env = running
    headers = {
        "Authorization": f"Bearer {env['GATEWAY_ADMIN_TOKEN']}",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
    }
    report = httpx.get(f"{url}/_gateway/doctor", headers=headers, timeout=30).json()
    assert report["forwarded"] == {"seen": True, "trusted": False}
    assert [f["code"] for f in report["findings"]] == ["forwarded-headers-untrusted"]


def test_proxy_headers_the_server_trusts_are_not_a_finding(
    tmp_path: Path, sound: dict[str, str]
) -> None:
    for url, env in start_gateway(tmp_path, sound, "--forwarded-allow-ips", "127.0.0.1"):
        headers = {
            "Authorization": f"Bearer {env['GATEWAY_ADMIN_TOKEN']}",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
        }
        report = httpx.get(f"{url}/_gateway/doctor", headers=headers, timeout=30).json()
        assert report["forwarded"] == {"seen": True, "trusted": True}
        assert report["findings"] == []


def test_the_forwarded_probe_tells_applied_headers_from_ignored_ones() -> None:
    from gateway.doctor_facts import forwarded_probe

    sent = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    assert forwarded_probe(sent, "203.0.113.7", "https") == ForwardedProbe(True, True)
    assert forwarded_probe(sent, "127.0.0.1", "http") == ForwardedProbe(True, False)
    assert forwarded_probe({}, "127.0.0.1", "http") == ForwardedProbe(False, False)


def test_redis_passwords_never_appear_in_findings() -> None:
    assert redact_url("redis://app:s3cret@redis:6379/0") == "redis://app:***@redis:6379/0"
    assert redact_url("redis://redis:6379/0") == "redis://redis:6379/0"


def test_a_redis_that_wants_a_password_is_told_apart_from_one_that_is_down(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--requirepass", "doctor-pw", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while (probe := probe_redis("flags", url)).error and "refused" in probe.error:
            assert time.monotonic() < deadline, probe
            time.sleep(0.05)
        [finding] = redis_reachable([probe])
        assert "it wants a password" in finding.fix, finding
        assert probe_redis("flags", f"redis://:doctor-pw@127.0.0.1:{port}/0").reachable
    finally:
        server.terminate()
        server.wait(timeout=10)
    [down] = redis_reachable([probe_redis("flags", url)])
    assert down.fix.startswith("start it"), down
