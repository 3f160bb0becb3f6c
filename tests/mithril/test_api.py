"""The Mithril API client against the emulator, over real HTTP on loopback."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import traceback
from email.utils import formatdate
from pathlib import Path

import pytest

from flowslurm import config
from flowslurm.emulator.server import EmulatorServer as Emulator
from flowslurm.errors import FlowError
from flowslurm.providers.mithril import errors
from flowslurm.providers.mithril.api import DEFAULT_URL, MithrilClient, RetryPolicy
from flowslurm.providers.mithril.models import Bid, LaunchSpecification, cents_to_dollars, dollars_to_cents
from tests.mithril.conftest import FAST

A100 = "a100-80gb.sxm.1x"
REGION = "us-central1-a"


def bid(api: MithrilClient, mithril: Emulator, name: str, **overrides: object) -> Bid:
    terms: dict[str, object] = {
        "project": mithril.state.project_fid("default"), "region": REGION,
        "instance_type": mithril.state.instance_type_fid(A100), "limit_price": "$1.50", "instance_quantity": 1,
        "name": name, "launch_specification": LaunchSpecification(startup_script="#!/bin/bash\necho hi\n"),
    }
    terms.update(overrides)
    return api.create_bid(**terms)  # type: ignore[arg-type]


def everything_said(exc: BaseException) -> str:
    """All a user or a log could see of an exception: message, repr, suggestions, traceback."""
    parts = [str(exc), repr(exc), *getattr(exc, "suggestions", [])]
    parts += traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "\n".join(parts)


# -- credentials ------------------------------------------------------------------------------------

def test_bad_key_says_what_to_do_and_never_shows_the_key(mithril: Emulator) -> None:
    wrong = "fkey_WrongKeyNotValidAnywhere0123456789"
    with MithrilClient(api_key=wrong, base_url=mithril.url, retry=FAST, sleep=lambda s: None) as api:
        assert wrong not in repr(api) and wrong not in repr(vars(api)) and wrong not in repr(vars(api._session))
        with pytest.raises(errors.AuthenticationError) as caught:
            api.list_projects()
    exc = caught.value
    assert isinstance(exc, FlowError) and exc.status == 401
    assert "list projects" in exc.message and "rejected the API key" in exc.message
    assert any("MITHRIL_API_KEY" in s and "flow init" in s for s in exc.suggestions)
    assert wrong not in everything_said(exc)
    assert len(mithril.state.requests_to("GET", "/v2/projects")) == 1  # 401 is final: no retries


def test_a_server_echoing_the_key_is_redacted(api: MithrilClient, mithril: Emulator) -> None:
    mithril.state.fail(400, detail=f"token {mithril.api_key} is malformed; also fkey_SomeOtherKey123")
    with pytest.raises(errors.InvalidRequestError) as caught:
        api.list_projects()
    said = everything_said(caught.value)
    assert "malformed" in said and mithril.api_key not in said and "fkey_SomeOtherKey123" not in said


def test_missing_or_mangled_key_is_refused_before_sending(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MITHRIL_API_KEY", raising=False)
    monkeypatch.setenv("FLOWSLURM_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setattr(config, "_settings_cache", None)
    with pytest.raises(errors.MissingCredentialsError) as caught:
        MithrilClient()
    assert any("MITHRIL_API_KEY" in s for s in caught.value.suggestions)
    mangled = "fkey_Pasted\nWithNewline"
    with pytest.raises(errors.MissingCredentialsError) as caught:
        MithrilClient(api_key=mangled)
    assert "fkey_Pasted" not in everything_said(caught.value)


def test_key_and_url_come_from_the_environment_or_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         mithril: Emulator) -> None:
    monkeypatch.setenv("FLOWSLURM_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setattr(config, "_settings_cache", None)
    monkeypatch.delenv("MITHRIL_API_URL", raising=False)
    monkeypatch.setenv("MITHRIL_API_KEY", "fkey_whatever")
    assert MithrilClient().base_url == DEFAULT_URL == "https://api.mithril.ai"
    monkeypatch.setenv("MITHRIL_API_KEY", mithril.api_key)
    monkeypatch.setenv("MITHRIL_API_URL", mithril.url)
    with MithrilClient() as api:
        assert [p.name for p in api.list_projects()] == ["default", "research"]
    monkeypatch.delenv("MITHRIL_API_KEY")
    monkeypatch.delenv("MITHRIL_API_URL")
    (tmp_path / "c.yaml").write_text(f"mithril:\n  api_key: {mithril.api_key}\n  api_url: {mithril.url}\n")
    monkeypatch.setenv("FLOWSLURM_CONFIG", str(tmp_path / "c.yaml"))
    monkeypatch.setattr(config, "_settings_cache", None)
    with MithrilClient() as api:
        assert len(api.list_projects()) == 2


def test_a_new_api_key_works_until_revoked(api: MithrilClient, mithril: Emulator) -> None:
    created = api.create_api_key("flowslurm-job-7", "2030-01-01T00:00:00Z")
    assert created.fid.startswith("apikey_") and created.secret is not None
    secret = created.secret.reveal()
    assert secret.startswith("fkey_") and secret not in repr(created) and secret not in repr(created.raw)
    with pytest.raises(TypeError):
        pickle.dumps(created.secret)
    assert [k.name for k in api.list_api_keys()] == ["flowslurm-job-7"]
    with MithrilClient(api_key=secret, base_url=mithril.url, retry=FAST) as other:
        assert len(other.list_projects()) == 2
        api.revoke_api_key(created.fid)
        with pytest.raises(errors.AuthenticationError):
            other.list_projects()
    assert api.list_api_keys()[0].deactivated_at is not None


# -- catalog and market -----------------------------------------------------------------------------

def test_projects_types_availability_and_prices(api: MithrilClient, mithril: Emulator) -> None:
    research = api.find_project("research")
    assert research.fid.startswith("proj_") and api.find_project(research.fid) == research
    with pytest.raises(errors.NotFoundError, match="default, research"):
        api.find_project("nope")
    types = {t.name: t for t in api.list_instance_types()}
    assert types[A100].num_gpus == 1 and types["h100-80gb.sxm.8x"].gpu_type == "H100"
    assert types[A100].fid.startswith("it_") and isinstance(types[A100].hourly_price, float)
    markets = {(a.instance_type, a.region): a for a in api.spot_availability()}
    market = markets[(types[A100].fid, REGION)]
    assert market.capacity == 8 and market.last_instance_price == "$1.20" and market.last_price_cents == 120
    prices = api.current_prices(types[A100].fid, REGION)
    assert (prices.spot_price_cents, prices.minimum_price_cents, prices.available_capacity) == (120, 80, 8)
    assert api.current_prices(types[A100].fid).spot_price_cents == 110  # the cheapest region when none is named


def test_money_converts_exactly() -> None:
    assert dollars_to_cents("$25.60") == 2560 and dollars_to_cents("$1,234.5") == 123450
    assert dollars_to_cents("0.285") == 29 and cents_to_dollars(2560) == "$25.60" and cents_to_dollars(5) == "$0.05"
    with pytest.raises(ValueError):
        dollars_to_cents("twelve")


# -- bids and instances -----------------------------------------------------------------------------

def test_bid_lifecycle_open_allocated_running_cancelled(api: MithrilClient, mithril: Emulator) -> None:
    project = mithril.state.project_fid("default")
    placed = bid(api, mithril, "job-1", instance_quantity=2)
    assert placed.fid.startswith("bid_") and placed.status == "Open" and placed.instances == ()
    assert placed.limit_price_cents == 150 and placed.launch_specification is not None
    assert placed.launch_specification.startup_script == "#!/bin/bash\necho hi\n"
    mithril.state.advance()
    allocated = api.get_bid(placed.fid)
    assert allocated.status == "Allocated" and len(allocated.instances) == 2
    assert {i.status for i in api.list_instances(project, bid_fids=[placed.fid])} == {"STATUS_NEW"}
    mithril.state.advance(4)
    running = api.list_instances(project, bid_fids=[placed.fid])
    assert {i.status for i in running} == {"STATUS_RUNNING"} and all(i.ssh_destination for i in running)
    assert {i.fid for i in running} == set(allocated.instances)
    api.cancel_bid(placed.fid)
    cancelled = api.get_bid(placed.fid)
    assert cancelled.status == "Terminated" and cancelled.deactivated_at is not None
    assert {i.status for i in api.list_instances(project, bid_fids=[placed.fid])} == {"STATUS_TERMINATED"}
    api.cancel_bid(placed.fid)  # cancelling again is harmless
    assert mithril.state.live_bids() == []


def test_outbid_stays_open_and_preemption_reopens(api: MithrilClient, mithril: Emulator) -> None:
    cheap = bid(api, mithril, "cheap", limit_price="$1.00")  # above the $0.80 minimum, below the $1.20 price
    placed = bid(api, mithril, "job")
    mithril.state.advance(5)
    assert api.get_bid(cheap.fid).status == "Open" and api.get_bid(placed.fid).status == "Allocated"
    first = api.get_bid(placed.fid).instances
    mithril.state.preempt(placed.fid)
    assert api.get_bid(placed.fid).status == "Preempting"
    mithril.state.advance()
    assert api.get_bid(placed.fid).status == "Open"
    project = mithril.state.project_fid("default")
    assert [i.status for i in api.list_instances(project, bid_fids=[placed.fid])] == ["STATUS_PREEMPTED"]
    mithril.state.advance()
    again = api.get_bid(placed.fid)
    assert again.status == "Allocated" and again.instances and set(again.instances).isdisjoint(first)


def test_update_bid_price_and_pause(api: MithrilClient, mithril: Emulator) -> None:
    placed = bid(api, mithril, "job")
    assert api.update_bid(placed.fid, limit_price="$2.25").limit_price == "$2.25"
    assert api.update_bid(placed.fid, paused=True).status == "Paused"
    assert api.update_bid(placed.fid, paused=False).status == "Open"
    with pytest.raises(errors.PriceBelowMinimumError):
        api.update_bid(placed.fid, limit_price="$0.01")
    patches = mithril.state.requests_to("PATCH", f"/v2/spot/bids/{placed.fid}")
    assert len(patches) == 4


def test_listing_bids_follows_cursors_across_pages(api: MithrilClient, mithril: Emulator) -> None:
    made = [bid(api, mithril, f"job-{n}").fid for n in range(7)]
    mithril.state.requests.clear()
    seen = api.list_bids(page_size=3)
    assert [b.fid for b in seen] == made[::-1]  # newest first, each once
    pages = mithril.state.requests_to("GET", "/v2/spot/bids")
    assert len(pages) == 3 and [p.query.get("limit") for p in pages] == [["3"]] * 3
    assert "next_cursor" not in pages[0].query and all(p.query["next_cursor"][0] for p in pages[1:])
    ascending = api.list_bids(page_size=2, sort_by="created_at", sort_dir="asc")
    assert [b.fid for b in ascending] == made


def test_a_bid_created_while_paging_does_not_shift_the_pages(api: MithrilClient, mithril: Emulator) -> None:
    made = [bid(api, mithril, f"job-{n}").fid for n in range(5)]
    pages = api.iter_bids(page_size=2, sort_dir="asc")
    first = [next(pages).fid, next(pages).fid]
    bid(api, mithril, "late")
    rest = [b.fid for b in pages]
    assert first + rest[:3] == made and len(rest) == 4  # the late bid comes last, nothing twice


def test_bid_filters(api: MithrilClient, mithril: Emulator) -> None:
    state = mithril.state
    a = bid(api, mithril, "a")
    b = bid(api, mithril, "b", region="us-central1-b")
    c = bid(api, mithril, "c", instance_type=state.instance_type_fid("a100-80gb.sxm.8x"), limit_price="$9.60")
    other = bid(api, mithril, "a", project=state.project_fid("research"))
    api.cancel_bid(a.fid)
    assert {x.fid for x in api.list_bids(status="Terminated")} == {a.fid}
    assert {x.fid for x in api.list_bids(name="a")} == {a.fid, other.fid}
    assert {x.fid for x in api.list_bids(project=state.project_fid("default"), name="a")} == {a.fid}
    assert {x.fid for x in api.list_bids(region="us-central1-b")} == {b.fid}
    assert {x.fid for x in api.list_bids(instance_type=c.instance_type)} == {c.fid}
    with pytest.raises(errors.InvalidRequestError, match="status"):
        api.list_bids(status="Done")  # type: ignore[arg-type]


def test_instances_are_fetched_for_many_bids_in_batches(api: MithrilClient, mithril: Emulator) -> None:
    project = mithril.state.project_fid("default")
    bids = [bid(api, mithril, f"job-{n}").fid for n in range(5)]
    mithril.state.advance(5)
    mithril.state.requests.clear()
    found = api.instances_by_bid(project, bids)
    assert len(mithril.state.requests_to("GET", "/v2/instances")) == 1  # ceil(5/100)
    assert sorted(found) == sorted(bids) and all(len(v) == 1 and v[0].bid == k for k, v in found.items())
    mithril.state.requests.clear()
    batched = api.list_instances(project, bid_fids=bids, bids_per_request=2)
    requests = mithril.state.requests_to("GET", "/v2/instances")
    assert len(batched) == 5 and len(requests) == 3
    assert requests[0].query["bid_fid_in"] == [",".join(bids[:2])]  # comma-joined, as the API reads it
    assert api.list_instances(project, bid_fids=[]) == [] and len(mithril.state.requests_to("GET", "/v2/instances")) == 3
    assert len(api.list_instances(project, status_in=["STATUS_RUNNING"])) == 5
    assert api.list_instances(project, status_in=["STATUS_PREEMPTED", "STATUS_NEW"]) == []
    assert len(api.list_instances(project, page_size=2)) == 5


# -- retries and idempotency -------------------------------------------------------------------------

def test_create_bid_under_503s_makes_exactly_one_bid(api: MithrilClient, mithril: Emulator) -> None:
    mithril.state.fail(503, times=2, method="POST", path="/v2/spot/bids")
    placed = bid(api, mithril, "job-1", idempotency_key="flowslurm-job-1-0")
    posts = mithril.state.requests_to("POST", "/v2/spot/bids")
    assert [p.status for p in posts] == [503, 503, 201]
    assert {p.idempotency_key for p in posts} == {"flowslurm-job-1-0"}
    assert [b["fid"] for b in mithril.state.live_bids()] == [placed.fid]


def test_answer_lost_after_creation_replays_the_same_bid(api: MithrilClient, mithril: Emulator) -> None:
    mithril.state.drop(times=1, after_handling=True, method="POST", path="/v2/spot/bids")
    mithril.state.fail(503, times=10, method="GET", path="/v2/spot/bids")  # the name lookup cannot help
    placed = bid(api, mithril, "job-1", idempotency_key="k-1")
    posts = mithril.state.requests_to("POST", "/v2/spot/bids")
    assert [p.status for p in posts] == [None, 201]  # the second POST was a replay
    assert [b["fid"] for b in mithril.state.live_bids()] == [placed.fid]
    assert bid(api, mithril, "job-1", idempotency_key="k-1").fid == placed.fid  # replays again
    with pytest.raises(errors.ConflictError, match="Idempotency-Key"):
        bid(api, mithril, "job-2", idempotency_key="k-1")
    assert len(mithril.state.live_bids()) == 1


def test_a_server_ignoring_idempotency_keys_still_gets_one_bid(api: MithrilClient, mithril: Emulator) -> None:
    mithril.state.honour_idempotency = False
    mithril.state.drop(times=2, after_handling=True, method="POST", path="/v2/spot/bids")
    placed = bid(api, mithril, "job-1")
    assert len(mithril.state.requests_to("POST", "/v2/spot/bids")) == 1  # found by name instead of re-posting
    assert [b["fid"] for b in mithril.state.live_bids()] == [placed.fid]


def test_a_last_attempt_lost_after_creation_still_returns_the_bid(mithril: Emulator) -> None:
    mithril.state.honour_idempotency = False
    mithril.state.drop(after_handling=True, method="POST", path="/v2/spot/bids")
    with MithrilClient(api_key=mithril.api_key, base_url=mithril.url, retry=RetryPolicy(attempts=1)) as api:
        placed = bid(api, mithril, "job-1")
    assert [b["fid"] for b in mithril.state.live_bids()] == [placed.fid]
    assert len(mithril.state.requests_to("POST", "/v2/spot/bids")) == 1


def test_dropped_connections_before_handling_are_retried(api: MithrilClient, mithril: Emulator) -> None:
    mithril.state.drop(times=2, method="POST")
    placed = bid(api, mithril, "job-1")
    mithril.state.drop(times=3, method="GET")
    assert api.get_bid(placed.fid).fid == placed.fid
    assert len(mithril.state.live_bids()) == 1


def test_post_without_idempotency_key_is_never_retried(api: MithrilClient, mithril: Emulator) -> None:
    project = mithril.state.project_fid("default")
    mithril.state.drop(after_handling=True, method="POST", path="/v2/ssh-keys")
    with pytest.raises(errors.OutcomeUnknownError) as caught:
        api.create_ssh_key(project, "laptop", public_key="ssh-ed25519 AAAA test")
    assert "may or may not have been applied" in caught.value.message
    assert len(mithril.state.requests_to("POST", "/v2/ssh-keys")) == 1
    assert [k.name for k in api.list_ssh_keys(project)] == ["laptop"]  # it was applied, once
    mithril.state.fail(503, method="POST", path="/v2/api-keys")
    with pytest.raises(errors.ServiceError):
        api.create_api_key("k", "2030-01-01T00:00:00Z")
    mithril.state.fail(429, retry_after="1", method="POST", path="/v2/api-keys")
    with pytest.raises(errors.RateLimitedError):
        api.create_api_key("k", "2030-01-01T00:00:00Z")
    assert len(mithril.state.requests_to("POST", "/v2/api-keys")) == 2 and api.list_api_keys() == []


def test_429_waits_as_long_as_retry_after_says(api: MithrilClient, mithril: Emulator, sleeps: list[float]) -> None:
    mithril.state.fail(429, times=2, retry_after="7", path="/v2/projects")
    assert len(api.list_projects()) == 2
    assert sleeps == [7.0, 7.0]
    sleeps.clear()
    mithril.state.fail(429, retry_after=formatdate(time.time() + 30, usegmt=True), path="/v2/projects")
    api.list_projects()
    assert len(sleeps) == 1 and 28 <= sleeps[0] <= 31


def test_a_retry_after_beyond_the_limit_fails_at_once(api: MithrilClient, mithril: Emulator,
                                                      sleeps: list[float]) -> None:
    mithril.state.fail(429, times=5, retry_after="3600", path="/v2/projects")
    with pytest.raises(errors.RateLimitedError) as caught:
        api.list_projects()
    assert sleeps == [] and len(mithril.state.requests_to("GET", "/v2/projects")) == 1
    assert "3600" in caught.value.suggestions[0]


def test_backoff_really_waits_and_gives_up(mithril: Emulator) -> None:
    mithril.state.fail(503, times=2, path="/v2/projects")
    policy = RetryPolicy(attempts=3, base_s=0.02, cap_s=0.04)
    with MithrilClient(api_key=mithril.api_key, base_url=mithril.url, retry=policy) as api:
        started = time.monotonic()
        api.list_projects()
        assert 0.03 <= time.monotonic() - started < 1.0  # 0.01-0.02 s, then 0.02-0.04 s
        mithril.state.fail(503, times=3, path="/v2/projects")
        with pytest.raises(errors.ServiceError) as caught:
            api.list_projects()
    assert "after 3 attempts" in caught.value.message and "[request id req_" in caught.value.message
    assert policy.backoff(10, 0.999) <= 0.04 and policy.backoff(1, 0.0) == 0.01


def test_no_answer_is_unreachable(mithril: Emulator) -> None:
    url = mithril.url
    mithril.stop()
    with MithrilClient(api_key=mithril.api_key, base_url=url, retry=FAST, sleep=lambda s: None) as api:
        with pytest.raises(errors.UnreachableError) as caught:
            api.list_projects()
    assert "after 4 attempts" in caught.value.message and url in caught.value.suggestions[0]


def test_a_slow_answer_times_out(mithril: Emulator) -> None:
    mithril.state.delay(2.0, times=5, path="/v2/projects")
    policy = RetryPolicy(attempts=2, base_s=0.001, cap_s=0.001)
    with MithrilClient(api_key=mithril.api_key, base_url=mithril.url, retry=policy, timeout_s=0.1) as api:
        started = time.monotonic()
        with pytest.raises(errors.UnreachableError, match="ReadTimeout"):
            api.list_projects()
        assert time.monotonic() - started < 1.5


# -- errors ------------------------------------------------------------------------------------------

def test_refusals_map_to_errors_that_say_what_to_do(api: MithrilClient, mithril: Emulator) -> None:
    state = mithril.state
    with pytest.raises(errors.PriceBelowMinimumError, match=r"create spot bid 'cheap'.*\$0.80") as price:
        bid(api, mithril, "cheap", limit_price="$0.10")
    bid(api, mithril, "taken")
    with pytest.raises(errors.NameInUseError, match="already used") as name:
        bid(api, mithril, "taken")
    with pytest.raises(errors.NoCapacityError) as capacity:
        bid(api, mithril, "far", region="eu-central1-a")
    with pytest.raises(errors.NoCapacityError):
        bid(api, mithril, "many", instance_quantity=9)
    state.quota_instances[state.project_fid("default")] = 2
    with pytest.raises(errors.QuotaExceededError) as quota:
        bid(api, mithril, "over", instance_quantity=2)
    with pytest.raises(errors.NotFoundError, match="get spot bid bid_missing") as missing:
        api.get_bid("bid_missing")
    with pytest.raises(errors.InvalidRequestError, match="launch_specification.startup_script") as invalid:
        bid(api, mithril, "long", launch_specification=LaunchSpecification(startup_script="x" * 10_001))
    for caught in (price, name, capacity, quota, missing, invalid):
        assert isinstance(caught.value, FlowError) and caught.value.suggestions and caught.value.status
    assert any("price cap" in s for s in price.value.suggestions)
    assert len(state.live_bids()) == 1


def test_status_codes_without_telling_words(api: MithrilClient, mithril: Emulator) -> None:
    for status, cls in [(403, errors.PermissionDeniedError), (402, errors.BillingError),
                        (409, errors.ConflictError), (422, errors.InvalidRequestError)]:
        mithril.state.fail(status, detail="refused", path="/v2/projects")
        with pytest.raises(cls, match=f"HTTP {status}: refused"):
            api.list_projects()
    mithril.state.fail(403, detail="Project quota exhausted", path="/v2/projects")
    with pytest.raises(errors.QuotaExceededError):
        api.list_projects()


def test_ids_cannot_escape_their_path_segment(api: MithrilClient, mithril: Emulator) -> None:
    with pytest.raises(errors.NotFoundError):
        api.get_bid("../projects")
    assert mithril.state.requests[-1].path == "/v2/spot/bids/../projects"  # one segment, not /v2/projects
    with pytest.raises(ValueError):
        api.cancel_bid("..")


# -- ssh keys and volumes ----------------------------------------------------------------------------

def test_ssh_keys(api: MithrilClient, mithril: Emulator) -> None:
    project = mithril.state.project_fid("default")
    generated = api.create_ssh_key(project, "flowslurm")
    assert generated.fid.startswith("sshkey_") and generated.private_key is not None
    assert "PRIVATE KEY" in generated.private_key.reveal() and "PRIVATE" not in repr(generated)
    assert generated.raw["private_key"] == "***"
    assert api.update_ssh_key(generated.fid, True).required is True
    placed = bid(api, mithril, "job", launch_specification=LaunchSpecification(ssh_keys=[generated.fid]))
    with pytest.raises(errors.ConflictError):
        api.delete_ssh_key(generated.fid)
    api.cancel_bid(placed.fid)
    api.delete_ssh_key(generated.fid)
    assert api.list_ssh_keys(project) == []


def test_volumes(api: MithrilClient, mithril: Emulator) -> None:
    project = mithril.state.project_fid("default")
    vol = api.create_volume(project, "data", REGION, 100)
    assert vol.fid.startswith("vol_") and vol.capacity_gb == 100 and vol.interface == "Block"
    assert mithril.state.requests_to("POST", "/v2/volumes")[0].idempotency_key
    with pytest.raises(errors.NameInUseError):
        api.create_volume(project, "data", REGION, 10)
    with pytest.raises(errors.InvalidRequestError, match="name"):
        api.create_volume(project, "Bad_Name", REGION, 10)
    assert api.update_volume(vol.fid, "data2").name == "data2"
    placed = bid(api, mithril, "job", launch_specification=LaunchSpecification(volumes=[vol.fid]))
    assert api.list_volumes(project)[0].bids == (placed.fid,)
    with pytest.raises(errors.ConflictError):
        api.delete_volume(vol.fid)
    api.cancel_bid(placed.fid)
    api.delete_volume(vol.fid)
    assert api.list_volumes(project) == [] and api.list_volumes(project, include_deleted=True)[0].deleted_at


# -- the client itself -------------------------------------------------------------------------------

def test_malformed_answers_are_protocol_errors() -> None:
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/projects":
            return httpx.Response(200, text="<html>captive portal</html>")
        if request.url.path == "/v2/instance-types":
            return httpx.Response(200, json=[{"fid": "it_x"}])
        return httpx.Response(200, json={"data": [], "next_cursor": "same"})

    with MithrilClient(api_key="fkey_x", base_url="https://api.test", transport=httpx.MockTransport(answer)) as api:
        with pytest.raises(errors.ProtocolError, match="not JSON"):
            api.list_projects()
        with pytest.raises(errors.ProtocolError, match="missing field"):
            api.list_instance_types()
        with pytest.raises(errors.ProtocolError, match="cursor"):
            api.list_bids()


def test_the_key_never_travels_in_clear_to_another_host() -> None:
    with pytest.raises(errors.MithrilError, match="unencrypted"):
        MithrilClient(api_key="fkey_x", base_url="http://api.mithril.ai")
    with pytest.raises(errors.MithrilError, match="http:// or https://"):
        MithrilClient(api_key="fkey_x", base_url="api.mithril.ai")
    MithrilClient(api_key="fkey_x", base_url="http://localhost:8080").close()


def test_importing_the_client_does_not_import_httpx() -> None:
    code = "import sys, flowslurm.providers.mithril.api; print('httpx' in sys.modules, 'dataclasses' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
