"""Signal intake over HTTP on the simulated broker: webhook tokens, the webhook with text and
JSON, resends, parse errors, wrong and revoked tokens, follow-ups, limits, and the preview."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, log_text, make_account, make_user

BID, ASK = Decimal("2349.80"), Decimal("2350.00")
OPEN_TEXT = "🟢 XAUUSD BUY NOW @2350\nSL 2340\nTP1 2355\nTP2 2360\nLOT 0.02"


@pytest.fixture
def broker(sim_broker):
    broker = sim_broker()
    broker.set_quote("XAUUSD", BID, ASK, freeze=True)
    return broker


@pytest.fixture
def provider(app, client) -> dict[str, Any]:
    user = make_user(app, role="super_admin")
    return {"user": user, "headers": auth_headers(client, user)}


@pytest.fixture
def follower(app, client, broker) -> dict[str, Any]:
    user = make_user(app)
    headers = auth_headers(client, user)
    body = account_body(copy_enabled=True)
    broker.create_account(int(body["login"]), body["password"], body["server"])
    return {
        "user": user,
        "headers": headers,
        "account": make_account(client, headers, subscribed=True, **body),
    }


def new_token(client, provider, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "TradingView gold")
    response = client.post("/api/me/signal_token", json=body, headers=provider["headers"])
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def post_text(client, token: str, text: str) -> Any:
    return client.post(
        f"/hooks/signals/{token}", data=text.encode(), headers={"Content-Type": "text/plain"}
    )


def wait_final(client, headers, dispatch_id: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/broadcast_status?broadcast_id={dispatch_id}", headers=headers)
        body = view.get_json()
        if view.status_code == 200 and body["counts"]["pending"] + body["counts"]["in_flight"] == 0:
            return dict(body)
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def dispatch_count() -> int:
    from extensions import db
    from models import Dispatch

    db.session.rollback()
    return db.session.query(Dispatch).count()


# --- tokens ------------------------------------------------------------------------------------


def test_create_token_shown_once_and_stored_as_keyed_hash(client, provider):
    created = new_token(client, provider, name="TradingView gold")

    assert created["token"].startswith("sig_") and len(created["token"]) > 40
    assert created["webhook_path"] == f"/hooks/signals/{created['token']}"
    listed = client.get("/api/me/signal_tokens", headers=provider["headers"]).get_json()
    assert [t["id"] for t in listed["tokens"]] == [created["id"]]
    assert "token" not in listed["tokens"][0]
    from extensions import db
    from models import SignalToken

    stored = db.session.get(SignalToken, created["id"])
    assert created["token"] not in (stored.token_hash, stored.prefix)
    assert created["token"].startswith(stored.prefix)


def test_create_token_symbols_resolved_to_our_names(client, provider):
    created = new_token(client, provider, symbols=["GOLD", "eurusd.m"])

    assert created["symbols"] == ["EURUSD", "XAUUSD"]


def test_create_token_unknown_symbol_is_422(client, provider):
    response = client.post(
        "/api/me/signal_token",
        json={"name": "x", "symbols": ["NOTASYMBOL"]},
        headers=provider["headers"],
    )

    assert_error(response, 422, "unknown_symbol")


def test_create_token_plain_user_is_403(client, app):
    headers = auth_headers(client, make_user(app))

    response = client.post("/api/me/signal_token", json={"name": "x"}, headers=headers)

    assert_error(response, 403, "forbidden")


def test_revoke_token_then_webhook_is_401(client, provider, follower):
    token = new_token(client, provider)
    revoked = client.delete(f"/api/me/signal_tokens/{token['id']}", headers=provider["headers"])
    assert revoked.status_code == 204

    response = post_text(client, token["token"], OPEN_TEXT)

    assert_error(response, 401, "invalid_signal_token")
    listed = client.get("/api/me/signal_tokens", headers=provider["headers"]).get_json()
    assert listed["tokens"][0]["revoked_at"] is not None


def test_revoke_other_providers_token_is_404_and_keeps_it(client, app, provider, follower):
    token = new_token(client, provider)
    other = auth_headers(client, make_user(app, role="super_admin"))

    response = client.delete(f"/api/me/signal_tokens/{token['id']}", headers=other)

    assert_error(response, 404, "signal_token_not_found")
    assert post_text(client, token["token"], OPEN_TEXT).status_code == 202


# --- the webhook -------------------------------------------------------------------------------


def test_webhook_text_opens_a_broadcast_on_follower_accounts(client, provider, follower):
    token = new_token(client, provider)

    started = time.monotonic()
    response = post_text(client, token["token"], OPEN_TEXT)
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.get_json()
    assert elapsed < 1.0
    body = response.get_json()
    assert body["parsed"]["order"]["symbol"] == "XAUUSD"
    assert body["parsed"]["order"]["take_profits"][1]["price"] == "2360"
    assert body["parsed"]["entry_reference"] == "2350"
    assert body["resent"] is False
    view = wait_final(client, provider["headers"], body["dispatch_id"])
    legs = [t for t in view["targets"] if t["account_id"] == follower["account"]["id"]]
    assert [t["status"] for t in legs] == ["executed", "executed"]
    assert sum(Decimal(t["volume"]) for t in legs) == Decimal("0.02")


def test_webhook_tradingview_json_opens_with_risk(client, provider, follower):
    token = new_token(client, provider)
    alert = {"action": "BUY", "symbol": "OANDA:XAUUSD", "sl": 2340, "tp": [2355, "2360"], "risk": 1}

    response = client.post(f"/hooks/signals/{token['token']}", json=alert)

    assert response.status_code == 202, response.get_json()
    parsed = response.get_json()["parsed"]
    assert parsed["order"]["risk"] == {"percent": "1"}
    assert parsed["sizing"] == {"mode": "risk_percent", "percent": "1"}
    view = wait_final(client, provider["headers"], response.get_json()["dispatch_id"])
    assert {t["status"] for t in view["targets"]} == {"executed"}


def test_webhook_broadcast_orders_body_goes_through_broadcast_orders(client, provider, follower):
    token = new_token(client, provider)
    body = {
        "targets": {"account_ids": [follower["account"]["id"]]},
        "order": {"symbol": "XAUUSD", "side": "sell", "volume": "0.03"},
    }

    response = client.post(f"/hooks/signals/{token['token']}", json=body)

    assert response.status_code == 202, response.get_json()
    view = wait_final(client, provider["headers"], response.get_json()["dispatch_id"])
    assert [(t["status"], t["volume"]) for t in view["targets"]] == [("executed", "0.03")]


def test_webhook_same_body_within_window_is_the_same_dispatch(client, provider, follower):
    token = new_token(client, provider)
    first = post_text(client, token["token"], OPEN_TEXT).get_json()
    before = dispatch_count()

    again = post_text(client, token["token"], OPEN_TEXT)

    assert again.status_code == 202
    assert again.get_json()["signal_id"] == first["signal_id"]
    assert again.get_json()["dispatch_id"] == first["dispatch_id"]
    assert again.get_json()["resent"] is True
    assert dispatch_count() == before


def test_webhook_same_body_after_window_is_a_new_signal(client, provider, follower):
    from extensions import db
    from models import Signal

    token = new_token(client, provider)
    first = post_text(client, token["token"], OPEN_TEXT).get_json()
    signal = db.session.get(Signal, first["signal_id"])
    signal.created_at -= timedelta(seconds=121)
    db.session.commit()

    again = post_text(client, token["token"], OPEN_TEXT).get_json()

    assert again["signal_id"] != first["signal_id"]
    assert again["dispatch_id"] != first["dispatch_id"]


def test_webhook_concurrent_copies_make_one_dispatch(app, provider, follower):
    token = new_token(app.test_client(), provider)
    before = dispatch_count()
    answers: list[Any] = []

    def post() -> None:
        answers.append(post_text(app.test_client(), token["token"], OPEN_TEXT))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [202] * 6, [a.get_json() for a in answers]
    assert len({a.get_json()["dispatch_id"] for a in answers}) == 1
    assert dispatch_count() == before + 1


def test_webhook_parse_error_is_422_naming_the_word_and_audited(client, provider, follower):
    token = new_token(client, provider)
    before = dispatch_count()

    response = post_text(client, token["token"], "XAUUSD BUY NOW SL 2340 SL 30 PIPS")

    error = assert_error(response, 422, "signal_not_understood")
    assert error["details"]["word"] == "SL"
    assert error["details"]["position"] == 6
    assert dispatch_count() == before
    audit = client.get("/api/audit?event=signal_rejected", headers=provider["headers"])
    assert audit.status_code == 200
    assert any(e["event"] == "signal_rejected" for e in audit.get_json()["events"])


def test_webhook_wrong_token_is_401_like_a_revoked_one(client, provider, follower):
    revoked = new_token(client, provider)
    client.delete(f"/api/me/signal_tokens/{revoked['id']}", headers=provider["headers"])

    wrong = post_text(client, "sig_" + "x" * 43, OPEN_TEXT)
    gone = post_text(client, revoked["token"], OPEN_TEXT)

    assert wrong.get_json() == gone.get_json()
    assert_error(wrong, 401, "invalid_signal_token")
    assert_error(post_text(client, "x" * 500, OPEN_TEXT), 401, "invalid_signal_token")


def test_webhook_token_of_a_demoted_provider_is_401(client, provider, follower):
    from extensions import db

    token = new_token(client, provider)
    provider["user"].role = "admin"
    db.session.commit()

    assert_error(post_text(client, token["token"], OPEN_TEXT), 401, "invalid_signal_token")


def test_webhook_symbol_outside_the_tokens_symbols_is_403(client, provider, follower):
    token = new_token(client, provider, symbols=["EURUSD"])

    response = post_text(client, token["token"], OPEN_TEXT)

    assert_error(response, 403, "symbol_not_allowed")


def test_webhook_other_content_type_is_415(client, provider):
    token = new_token(client, provider)

    response = client.post(
        f"/hooks/signals/{token['token']}", data=b"a=1", content_type="application/xml"
    )

    assert_error(response, 415, "unsupported_media_type")


def test_webhook_malformed_json_is_400(client, provider):
    token = new_token(client, provider)

    response = client.post(
        f"/hooks/signals/{token['token']}", data=b'{"action": NaN}', content_type="application/json"
    )

    assert_error(response, 400, "invalid_json")


def test_webhook_tradingview_json_invalid_field_is_422(client, provider):
    token = new_token(client, provider)

    response = client.post(
        f"/hooks/signals/{token['token']}", json={"action": "hold", "symbol": "XAUUSD"}
    )

    error = assert_error(response, 422, "validation_error")
    assert "action" in error["details"]["json"]


def test_webhook_stop_loss_on_the_wrong_side_is_422(client, provider, follower):
    token = new_token(client, provider)

    response = post_text(client, token["token"], "XAUUSD BUY @2350 SL 2360 LOT 0.01")

    assert_error(response, 422, "sl_wrong_side")


def test_webhook_no_follower_is_422_no_targets(client, provider, broker):
    token = new_token(client, provider)

    assert_error(post_text(client, token["token"], OPEN_TEXT), 422, "no_targets")


def test_webhook_token_never_reaches_the_log(app, client, provider, follower):
    token = new_token(client, provider)
    post_text(client, token["token"], OPEN_TEXT)
    post_text(client, token["token"], "nonsense words")

    assert token["token"] not in log_text(app)
    assert "/hooks/signals/<token>" in log_text(app)


def test_webhook_rate_limited_per_token(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGNAL_RATE_LIMIT="2 per minute")
    client = app.test_client()
    with app.app_context():
        provider = {"user": make_user(app, role="super_admin")}
        provider["headers"] = auth_headers(client, provider["user"])
        first, second = new_token(client, provider), new_token(client, provider)

        answers = [post_text(client, first["token"], f"CLOSE #{n}") for n in range(1, 4)]

        assert [a.status_code for a in answers] == [404, 404, 429]
        assert answers[2].get_json()["error"]["code"] == "rate_limited"
        assert post_text(client, second["token"], "CLOSE #1").status_code == 404


# --- follow-ups --------------------------------------------------------------------------------


def opened(client, provider, token: str, text: str = OPEN_TEXT) -> dict[str, Any]:
    response = post_text(client, token, text)
    assert response.status_code == 202, response.get_json()
    body = dict(response.get_json())
    wait_final(client, provider["headers"], body["dispatch_id"])
    return body


def test_follow_up_sl_to_be_acts_on_the_latest_open_signal(client, provider, follower, broker):
    token = new_token(client, provider)
    first = opened(client, provider, token["token"])
    latest = opened(client, provider, token["token"], OPEN_TEXT.replace("0.02", "0.04"))
    broker.set_quote("XAUUSD", Decimal("2353.00"), Decimal("2353.20"), freeze=True)

    response = post_text(client, token["token"], "✅ TP1 HIT ✅\nSL TO BE")

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["parsed"]["actions"] == [{"action": "breakeven"}]
    action = wait_final(client, provider["headers"], body["dispatch_id"])
    from extensions import db
    from models import Dispatch

    assert db.session.get(Dispatch, body["dispatch_id"]).parent_id == latest["dispatch_id"]
    assert latest["dispatch_id"] != first["dispatch_id"]
    assert {t["status"] for t in action["targets"]} == {"executed"}


def test_follow_up_close_half_of_a_named_signal(client, provider, follower):
    from extensions import db
    from models import Dispatch

    token = new_token(client, provider)
    first = opened(client, provider, token["token"])
    opened(client, provider, token["token"], OPEN_TEXT.replace("0.02", "0.04"))

    response = post_text(client, token["token"], f"close half #{first['signal_id']}")

    assert response.status_code == 202, response.get_json()
    assert (
        db.session.get(Dispatch, response.get_json()["dispatch_id"]).parent_id
        == (first["dispatch_id"])
    )


def test_follow_up_close_all_symbol_reaches_every_open_signal(client, provider, follower):
    token = new_token(client, provider)
    a = opened(client, provider, token["token"])
    b = opened(client, provider, token["token"], OPEN_TEXT.replace("0.02", "0.04"))

    response = post_text(client, token["token"], "CLOSE ALL GOLD")

    assert response.status_code == 202, response.get_json()
    ids = response.get_json()["dispatch_ids"]
    assert len(ids) == 2
    for action_id in ids:
        view = wait_final(client, provider["headers"], action_id)
        assert {t["status"] for t in view["targets"]} == {"executed"}
    positions = client.get(
        f"/api/accounts/{follower['account']['id']}/positions", headers=follower["headers"]
    ).get_json()["positions"]
    assert positions == []
    assert a["dispatch_id"] != b["dispatch_id"]


def test_follow_up_without_an_open_signal_is_422(client, provider, follower):
    token = new_token(client, provider)

    assert_error(post_text(client, token["token"], "SL TO BE"), 422, "no_open_trades")


def test_follow_up_naming_another_providers_signal_is_404(client, app, provider, follower):
    token = new_token(client, provider)
    first = opened(client, provider, token["token"])
    other = {"user": make_user(app, role="super_admin")}
    other["headers"] = auth_headers(client, other["user"])
    theirs = new_token(client, other)

    response = post_text(client, theirs["token"], f"CLOSE #{first['signal_id']}")

    assert_error(response, 404, "signal_not_found")


# --- the preview -------------------------------------------------------------------------------


def test_parse_preview_any_user_sees_what_it_would_do(client, app):
    headers = auth_headers(client, make_user(app))
    before = dispatch_count()

    response = client.post(
        "/api/signals/parse", json={"text": "sell gold limit 2360 sl 2370 tp 2340 risk 0.5%"},
        headers=headers,
    )  # fmt: skip

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["parsed"]["order"]["order_type"] == "limit"
    assert body["parsed"]["order"]["price"] == "2360"
    assert "sell XAUUSD limit at 2360" in body["summary"]
    assert dispatch_count() == before


def test_parse_preview_error_names_the_word(client, app):
    headers = auth_headers(client, make_user(app))

    response = client.post("/api/signals/parse", json={"text": "BUY GOLD TP OPEN"}, headers=headers)

    error = assert_error(response, 422, "signal_not_understood")
    assert error["details"]["word"] == "OPEN"


# --- what a webhook post may be refused for ----------------------------------------------------

BAD_POSTS = {
    "invalid utf-8 text": (b"XAUUSD BUY \xff\xfe", "text/plain", 400, "invalid_text"),
    "empty text": (b"", "text/plain", 422, "signal_not_understood"),
    "only emoji": ("🚀🚀".encode(), "text/plain", 422, "signal_not_understood"),
    "text over 2000 characters": (b"BUY " * 600, "text/plain", 422, "signal_not_understood"),
    "over 1 MB": (b"x" * 1_100_000, "text/plain", 413, "payload_too_large"),
    "json array": (b"[]", "application/json", 422, "validation_error"),
    "json string": (b'"XAUUSD BUY"', "application/json", 422, "validation_error"),
    "duplicate keys": (b'{"action": "buy", "action": "sell"}', "application/json", 400,
                       "invalid_json"),
    "json control character": (b'{"action": "buy\\u0000"}', "application/json", 400,
                               "invalid_json"),
    "tradingview without symbol": (b'{"action": "buy"}', "application/json", 422,
                                   "validation_error"),
    "tradingview unknown symbol": (b'{"action": "buy", "symbol": "NOPE"}', "application/json",
                                   422, "unknown_symbol"),
    "tradingview risk above 10": (b'{"action": "buy", "symbol": "XAUUSD", "sl": 2340, '
                                  b'"risk": 50}', "application/json", 422, "validation_error"),
    "tradingview risk and lot": (b'{"action": "buy", "symbol": "XAUUSD", "sl": 2340, '
                                 b'"risk": 1, "lot": 0.01}', "application/json", 422,
                                 "validation_error"),
    "tradingview tp not a price": (b'{"action": "buy", "symbol": "XAUUSD", "tp": ["x"]}',
                                   "application/json", 422, "validation_error"),
    "broadcast body invalid": (b'{"targets": {"all": true}, "order": {"side": "up"}}',
                               "application/json", 422, "validation_error"),
    "form": (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "no content type": (b"XAUUSD BUY", None, 415, "unsupported_media_type"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_POSTS))
def test_webhook_bad_post_is_a_4xx_envelope_and_makes_nothing(client, provider, follower, case):
    from extensions import db
    from models import Signal

    data, content_type, status, code = BAD_POSTS[case]
    token = new_token(client, provider)
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post(f"/hooks/signals/{token['token']}", data=data, headers=headers)

    assert_error(response, status, code)
    assert db.session.query(Signal).count() == 0
    assert dispatch_count() == 0


def test_webhook_tradingview_close_closes_the_symbols_open_signals(client, provider, follower):
    token = new_token(client, provider)
    opened(client, provider, token["token"])

    response = client.post(
        f"/hooks/signals/{token['token']}", json={"action": "exit", "symbol": "GOLD"}
    )

    assert response.status_code == 202, response.get_json()
    assert response.get_json()["parsed"]["scope"] == "all"
    view = wait_final(client, provider["headers"], response.get_json()["dispatch_id"])
    assert {t["status"] for t in view["targets"]} == {"executed"}


def test_webhook_accepted_signal_is_audited_with_its_dispatch(client, provider, follower):
    body = post_text(client, new_token(client, provider)["token"], OPEN_TEXT).get_json()

    audit = client.get("/api/audit?event=signal_received", headers=provider["headers"])

    (entry,) = [e for e in audit.get_json()["events"] if e["event"] == "signal_received"]
    assert entry["target_id"] == body["signal_id"]
    assert entry["details"]["dispatch_ids"] == [body["dispatch_id"]]


def test_follow_up_cancel_removes_the_pending_orders_of_a_limit_signal(client, provider, follower):
    token = new_token(client, provider)
    limit = opened(client, provider, token["token"], "XAUUSD BUY LIMIT 2300 SL 2290 LOT 0.01")
    view = wait_final(client, provider["headers"], limit["dispatch_id"])
    assert {t["status"] for t in view["targets"]} == {"placed"}

    response = post_text(client, token["token"], "CANCEL")

    assert response.status_code == 202, response.get_json()
    action = wait_final(client, provider["headers"], response.get_json()["dispatch_id"])
    assert {t["status"] for t in action["targets"]} == {"executed"}
    orders = client.get(
        f"/api/accounts/{follower['account']['id']}/orders", headers=follower["headers"]
    ).get_json()["orders"]
    assert orders == []


def test_follow_up_on_a_signal_outside_the_tokens_symbols_is_404(client, provider, follower):
    gold = new_token(client, provider)
    first = opened(client, provider, gold["token"])
    fx_only = new_token(client, provider, symbols=["EURUSD"])

    response = post_text(client, fx_only["token"], f"CLOSE #{first['signal_id']}")

    assert_error(response, 404, "signal_not_found")


def test_webhook_resend_of_a_refused_signal_is_read_again(client, app, provider, broker):
    token = new_token(client, provider)
    assert_error(post_text(client, token["token"], OPEN_TEXT), 422, "no_targets")
    owner = make_user(app)
    headers = auth_headers(client, owner)
    body = account_body(copy_enabled=True)
    broker.create_account(int(body["login"]), body["password"], body["server"])
    make_account(client, headers, subscribed=True, **body)

    again = post_text(client, token["token"], OPEN_TEXT)

    assert again.status_code == 202, again.get_json()
    assert again.get_json()["resent"] is False


def test_revoke_token_twice_is_204_both_times(client, provider):
    token = new_token(client, provider)
    url = f"/api/me/signal_tokens/{token['id']}"

    assert client.delete(url, headers=provider["headers"]).status_code == 204
    assert client.delete(url, headers=provider["headers"]).status_code == 204


def test_webhook_with_a_jwt_instead_of_the_token_is_401(client, provider, follower):
    response = client.post(
        "/hooks/signals/not-a-token",
        data=OPEN_TEXT.encode(),
        headers={**provider["headers"], "Content-Type": "text/plain"},
    )

    assert_error(response, 401, "invalid_signal_token")


def test_follow_up_close_half_and_sl_to_be_run_in_that_order(client, provider, follower, broker):
    from extensions import db
    from models import Dispatch

    token = new_token(client, provider)
    signal = opened(client, provider, token["token"], OPEN_TEXT.replace("0.02", "0.04"))
    broker.set_quote("XAUUSD", Decimal("2353.00"), Decimal("2353.20"), freeze=True)

    response = post_text(client, token["token"], "Close half and move SL to BE")

    assert response.status_code == 202, response.get_json()
    close_id, breakeven_id = response.get_json()["dispatch_ids"]
    assert close_id < breakeven_id
    for action_id in (close_id, breakeven_id):
        view = wait_final(client, provider["headers"], action_id)
        assert {t["status"] for t in view["targets"]} == {"executed"}, view
        assert db.session.get(Dispatch, action_id).parent_id == signal["dispatch_id"]
    positions = client.get(
        f"/api/accounts/{follower['account']['id']}/positions", headers=follower["headers"]
    ).get_json()["positions"]
    assert sorted(Decimal(p["volume"]) for p in positions) == [Decimal("0.01"), Decimal("0.01")]
    assert {Decimal(p["sl"]) for p in positions} == {Decimal("2350.00")}


def test_webhook_use_shows_in_the_tokens_last_used_at(client, provider, follower):
    token = new_token(client, provider)
    assert token["last_used_at"] is None

    post_text(client, token["token"], OPEN_TEXT)

    listed = client.get("/api/me/signal_tokens", headers=provider["headers"]).get_json()
    assert listed["tokens"][0]["last_used_at"] is not None
