"""The audit trail and the flip service: every flip recorded with its actor,
old and new flag and reason; shared through Redis; bulk flips; acknowledgements."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import httpx
import redis
from typer.testing import CliRunner

from gateway.cli import app
from gateway.presence import presence_keys
from tests.gateway.support import echo_gateway, serve, settings_for

ALICE = {"Authorization": "Bearer a-token"}
DEPLOY = {"Authorization": "Bearer d-token"}
runner = CliRunner()


def token_settings(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return settings_for(
        tmp_path,
        admin_open=False,
        admin_tokens=["alice:a-token", "deploy:d-token"],
        **overrides,
    )


def redis_settings(tmp_path: Path, redis_url: str, key_prefix: str, replica: str, **more: object):  # type: ignore[no-untyped-def]
    return token_settings(
        tmp_path / replica,
        redis_url=redis_url,
        flag_key=f"{key_prefix}flags",
        flag_channel=f"{key_prefix}channel",
        replica_name=replica,
        **more,
    )


def test_a_flip_records_actor_old_and_new_flag_and_reason(tmp_path: Path) -> None:
    with serve(echo_gateway(token_settings(tmp_path))) as url:
        first = httpx.put(
            f"{url}/_gateway/flags/prices",
            json={"flag": "canary 5", "reason": "first users"},
            headers=ALICE,
        )
        second = httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"}, headers=DEPLOY)
        trail = httpx.get(f"{url}/_gateway/audit", headers=ALICE).json()["entries"]
    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["old_flag"] == "legacy" and second.json()["old_flag"] == "canary 5"
    newest, oldest = trail
    assert (oldest["actor"], oldest["target"], oldest["old_flag"], oldest["new_flag"]) == (
        "alice",
        "prices",
        "legacy",
        "canary 5",
    )
    assert oldest["reason"] == "first users" and oldest["via"] == "api"
    assert (newest["actor"], newest["old_flag"], newest["new_flag"]) == (
        "deploy",
        "canary 5",
        "new",
    )
    assert newest["version"] == second.json()["version"] > oldest["version"]
    assert newest["time"].endswith("Z")


def test_the_audit_trail_needs_a_token_and_a_sane_limit(tmp_path: Path) -> None:
    with serve(echo_gateway(token_settings(tmp_path))) as url:
        anonymous = httpx.get(f"{url}/_gateway/audit")
        bad = [
            httpx.get(f"{url}/_gateway/audit", params={"limit": v}, headers=ALICE)
            for v in ("0", "-1", "x", "100000")
        ]
        for flag in ("new", "legacy", "shadow"):
            httpx.put(f"{url}/_gateway/flags/prices", json={"flag": flag}, headers=ALICE)
        limited = httpx.get(f"{url}/_gateway/audit", params={"limit": 2}, headers=ALICE)
    assert anonymous.status_code == 401
    assert [r.status_code for r in bad] == [400, 400, 400, 400]
    assert [e["new_flag"] for e in limited.json()["entries"]] == ["shadow", "legacy"]


def test_a_refused_flip_records_nothing(tmp_path: Path) -> None:
    with serve(echo_gateway(token_settings(tmp_path))) as url:
        refused = [
            httpx.put(f"{url}/_gateway/flags/nope", json={"flag": "new"}, headers=ALICE),
            httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "sideways"}, headers=ALICE),
            httpx.put(
                f"{url}/_gateway/flags/prices", json={"flag": "new", "reason": 3}, headers=ALICE
            ),
            httpx.put(
                f"{url}/_gateway/flags/prices",
                json={"flag": "new", "reason": "x" * 501},
                headers=ALICE,
            ),
        ]
        trail = httpx.get(f"{url}/_gateway/audit", headers=ALICE).json()["entries"]
    assert [r.status_code for r in refused] == [400, 400, 400, 400]
    assert trail == []


def test_a_bulk_flip_by_glob_changes_each_route_with_one_entry_each(tmp_path: Path) -> None:
    with serve(echo_gateway(token_settings(tmp_path))) as url:
        bulk = httpx.post(
            f"{url}/_gateway/flips",
            json={"match": "notes.*", "flag": "new", "reason": "notes done"},
            headers=ALICE,
        )
        nothing = httpx.post(
            f"{url}/_gateway/flips", json={"match": "zzz*", "flag": "new"}, headers=ALICE
        )
        malformed = httpx.post(f"{url}/_gateway/flips", json={"flag": "new"}, headers=ALICE)
        trail = httpx.get(f"{url}/_gateway/audit", headers=ALICE).json()["entries"]
        served = httpx.get(f"{url}/notes/")
    assert bulk.status_code == 200, bulk.text
    changed = sorted(c["key"] for c in bulk.json()["changes"])
    assert changed == ["notes.edit", "notes.list", "notes.new", "notes.show", "notes.update"]
    assert sorted(e["target"] for e in trail) == changed
    assert {e["reason"] for e in trail} == {"notes done"}
    assert nothing.status_code == 400 and "zzz" in nothing.json()["error"]
    assert malformed.status_code == 400
    assert served.headers["x-served-by"] == "new"


def test_with_redis_the_trail_is_shared_and_a_flip_waits_for_every_worker(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    one = echo_gateway(redis_settings(tmp_path, redis_url, key_prefix, "one"))
    two = echo_gateway(redis_settings(tmp_path, redis_url, key_prefix, "two"))
    with serve(one) as url_one, serve(two) as url_two:
        flipped = httpx.put(
            f"{url_one}/_gateway/flags/prices",
            json={"flag": "new", "reason": "shared"},
            headers=ALICE,
        )
        trail = httpx.get(f"{url_two}/_gateway/audit", headers=ALICE).json()["entries"]
        served = httpx.get(f"{url_two}/prices/1.5")
    assert flipped.status_code == 200, flipped.text
    acks = flipped.json()["acks"]
    assert acks["complete"] and acks["not_acked"] == []
    assert sorted(a.split(":")[0] for a in acks["acked"]) == ["one", "two"]
    assert [(e["target"], e["reason"]) for e in trail] == [("prices", "shared")]
    assert served.headers["x-served-by"] == "new"


def test_a_flip_names_the_workers_that_did_not_apply_it(
    tmp_path: Path, redis_url: str, key_prefix: str, redis_client
) -> None:  # type: ignore[no-untyped-def]
    settings = redis_settings(tmp_path, redis_url, key_prefix, "one", flip_ack_timeout=0.5)
    # A live worker (its heartbeat far from expiring) stuck on an old table.
    redis_client.zadd(presence_keys(f"{key_prefix}flags")[0], {"stuck:1": 2**40})
    redis_client.hset(presence_keys(f"{key_prefix}flags")[1], "stuck:1", 0)
    with serve(echo_gateway(settings)) as url:
        flipped = httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"}, headers=ALICE)
    acks = flipped.json()["acks"]
    assert flipped.status_code == 200
    assert acks["not_acked"] == ["stuck:1"] and not acks["complete"]
    assert 0.5 <= acks["seconds"] < 2
    assert [a.split(":")[0] for a in acks["acked"]] == ["one"]


# --- the CLI ------------------------------------------------------------------


def cli_env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    return {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_ADMIN_TOKEN": "cli-token",
        "COLUMNS": "200",
    }


def test_a_local_cli_flip_is_audited_as_the_os_user_and_read_back(
    tmp_path: Path, redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    env = cli_env(tmp_path, redis_url, key_prefix)
    flipped = runner.invoke(app, ["flip", "prices", "new", "--reason", "cli says so"], env=env)
    shown = runner.invoke(app, ["audit", "--json"], env=env)
    table = runner.invoke(app, ["audit"], env=env)
    assert flipped.exit_code == 0, flipped.output
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["source"]["redis_url"] == redis_url  # as every command's source, password masked
    assert data["source"]["audit_key"] == f"{key_prefix}flags:audit"
    (entry,) = data["entries"]
    assert (entry["actor"], entry["via"], entry["target"]) == (getpass.getuser(), "cli", "prices")
    assert (entry["old_flag"], entry["new_flag"], entry["reason"]) == (
        "legacy",
        "new",
        "cli says so",
    )
    assert "cli says so" in table.stdout and "legacy -> new" in table.stdout
    # The rollback window of the flipped route starts afresh, as after an API flip.
    assert redis_client.hexists(f"{key_prefix}flags:changed", "prices")


def test_the_cli_reads_the_audit_of_a_running_gateway(tmp_path: Path) -> None:
    env = {"GATEWAY_ADMIN_TOKEN": "a-token", "COLUMNS": "200"}
    with serve(echo_gateway(token_settings(tmp_path))) as url:
        runner.invoke(app, ["flip", "prices", "shadow", "--url", url, "--reason", "look"], env=env)
        shown = runner.invoke(app, ["audit", "--json", "--url", url], env=env)
    assert shown.exit_code == 0, shown.output
    (entry,) = json.loads(shown.stdout)["entries"]
    assert (entry["actor"], entry["new_flag"], entry["reason"]) == ("alice", "shadow", "look")


def test_the_cli_audit_without_redis_or_url_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit"], env={"GATEWAY_REDIS_URL": "", "REDIS_URL": ""})
    assert result.exit_code == 1
    assert "--url" in result.output
