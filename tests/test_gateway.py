"""The gateway client: codes, lenient parsing, retries, secrecy."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import smsdata.errors as E
from smsdata._answers import parse_answer
from smsdata._gateway_core import mobile_list
from smsdata.gateway import AsyncGateway, Balance, Gateway, SendResult

from .conftest import BASE, CANARY


def answer(code, msg="", msgid="", *, status=None, http=200, raw=None) -> httpx.Response:
    if raw is not None:
        return httpx.Response(http, content=raw.encode() if isinstance(raw, str) else raw)
    status = status or ("success" if code in (0, "0") else "error")
    body = {"status": status, "respCode": code, "respMsg": msg, "msgid": msgid}
    return httpx.Response(http, content=json.dumps(body).encode())


SEND_CLASSES = {
    1: E.AuthError,
    2: E.InvalidMobile,
    3: E.EmptyContent,
    4: E.ContentTooLong,
    5: E.InsufficientBalance,
    6: E.TooManyMobiles,
    7: E.SendFailed,
    8: E.AccountFrozen,
}


# ------------------------------------------------------------ against the simulator


def test_send_code_0_accepted_with_malformed_body(gateway: Gateway, sim) -> None:
    result = gateway.send(["13800138000", "13912345678"], "Hello")
    assert result == SendResult(msgid="800000", code=0, message="send success")
    assert sim.accepted_rows() == [("800000", "13800138000", "Hello"), ("800000", "13912345678", "Hello")]
    assert gateway.balance() == Balance(Decimal("998.00"), "998.00")


@pytest.mark.parametrize(
    ("uid", "pwd", "mobiles", "content", "code"),
    [
        pytest.param("demo", "wrong", "13800138000", "Hi", 1, id="1-wrong-password"),
        pytest.param("nobody", CANARY, "13800138000", "Hi", 1, id="1-unknown-uid"),
        pytest.param("demo", CANARY, "12345", "Hi", 2, id="2-wrong-mobile"),
        pytest.param("demo", CANARY, "13800138000,2800", "Hi", 2, id="2-one-wrong-mobile"),
        pytest.param("poor", CANARY, "13800138000,13800138001", "Hi", 5, id="5-insufficient-balance"),
        pytest.param("frozen", CANARY, "13800138000", "Hi", 8, id="8-frozen"),
    ],
)
def test_send_failure_codes_from_simulator(sim, async_gateway_for, uid, pwd, mobiles, content, code) -> None:
    async def run() -> E.GatewayError:
        async with async_gateway_for(uid, pwd) as gw:
            with pytest.raises(E.GatewayError) as info:
                await gw.send(mobiles, content)
            return info.value

    exc = asyncio.run(run())
    assert type(exc) is SEND_CLASSES[code]
    assert exc.code == code
    assert exc.body is not None
    assert f'"respCode": "{code}"' in exc.body
    assert sim.codes[f"send:{code}"] == 1
    assert sim.accepted == []


@pytest.mark.parametrize(
    ("mobiles", "content", "code"),
    [
        pytest.param("13800138000", "", 3, id="3-empty"),
        pytest.param("13800138000", "x" * 269, 4, id="4-too-long"),
        pytest.param(",".join(["13800138000"] * 5001), "Hi", 6, id="6-too-many"),
    ],
)
def test_simulator_answers_codes_3_4_6(sim, mobiles, content, code) -> None:
    # The client refuses these locally; the simulator must still answer them as the gateway does.
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
            form = {"Uid": "demo", "Pwd": CANARY, "Mobile": mobiles, "Content": content}
            return await client.post(BASE + "/Message/send", data=form)

    response = asyncio.run(run())
    fields = parse_answer(response.text)
    assert fields["respCode"] == code
    assert fields["status"] == "error"
    assert fields["msgid"] == ""


def test_send_code_7_from_simulator(sim, async_gateway_for) -> None:
    sim.config.fail_share = 1.0

    async def run() -> None:
        async with async_gateway_for() as gw:
            await gw.send("13800138000", "Hi")

    with pytest.raises(E.SendFailed) as info:
        asyncio.run(run())
    assert info.value.code == 7
    assert sim.accounts["demo"].balance == Decimal(1000)


@pytest.mark.parametrize(
    ("uid", "pwd", "expected"),
    [
        pytest.param("demo", CANARY, None, id="0-ok"),
        pytest.param("demo", "bad", E.AuthError, id="1-auth"),
        pytest.param("demo", "", E.AuthError, id="1-empty-password"),
        pytest.param("frozen", CANARY, E.AccountFrozen, id="2-frozen"),
    ],
)
def test_balance_codes_from_simulator(sim, async_gateway_for, uid, pwd, expected) -> None:
    async def run() -> Balance:
        async with async_gateway_for(uid, pwd) as gw:
            return await gw.balance()

    if expected is None:
        assert asyncio.run(run()) == Balance(Decimal("1000.00"), "1000.00")
    else:
        with pytest.raises(expected) as info:
            asyncio.run(run())
        assert info.value.code == {E.AuthError: 1, E.AccountFrozen: 2}[expected]


def test_async_gateway_sends_concurrently(sim, async_gateway_for) -> None:
    async def run() -> list[SendResult]:
        async with async_gateway_for() as gw:
            return await asyncio.gather(*(gw.send(f"1380013{i:04d}", f"msg {i}") for i in range(20)))

    results = asyncio.run(run())
    assert len({r.msgid for r in results}) == 20
    assert sim.accounts["demo"].balance == Decimal(980)


# ------------------------------------------------------------ every code mapped


@pytest.mark.parametrize("code", list(SEND_CLASSES), ids=[c.__name__ for c in SEND_CLASSES.values()])
@pytest.mark.parametrize("as_number", [False, True], ids=["code-as-string", "code-as-number"])
def test_every_send_code_maps_to_its_class(mock_gateway, code, as_number) -> None:
    gw, recorder = mock_gateway(answer(code if as_number else str(code), "reason"))
    with pytest.raises(SEND_CLASSES[code]) as info:
        gw.send("13800138000", "Hi")
    assert info.value.code == code
    assert info.value.message == "reason"
    assert len(recorder.requests) == 1


def test_unknown_code_is_a_plain_gateway_error_with_raw_string(mock_gateway) -> None:
    gw, _ = mock_gateway(answer("E42", "strange"))
    with pytest.raises(E.GatewayError) as info:
        gw.send("13800138000", "Hi")
    assert type(info.value) is E.GatewayError
    assert info.value.code == "E42"


# ------------------------------------------------------------ local validation


@pytest.mark.parametrize(
    ("mobiles", "content", "cls", "code"),
    [
        pytest.param([], "Hi", E.InvalidMobile, 2, id="no-numbers"),
        pytest.param(" , ,", "Hi", E.InvalidMobile, 2, id="only-commas"),
        pytest.param(["1380013800" + str(i % 10) for i in range(5001)], "Hi", E.TooManyMobiles, 6, id="5001"),
        pytest.param("13800138000", "  ", E.EmptyContent, 3, id="blank-content"),
        pytest.param("13800138000", "字" * 269, E.ContentTooLong, 4, id="269-chars"),
        pytest.param(["13800138000,139"], "Hi", E.InvalidMobile, 2, id="comma-inside-item"),
    ],
)
def test_local_validation_makes_no_request(mock_gateway, mobiles, content, cls, code) -> None:
    gw, recorder = mock_gateway(answer(0, "ok", "1"))
    with pytest.raises(cls) as info:
        gw.send(mobiles, content)
    assert info.value.code == code
    assert info.value.body is None
    assert recorder.requests == []


def test_limits_are_inclusive(mock_gateway) -> None:
    gw, recorder = mock_gateway(answer(0, "ok", "9"))
    assert gw.send([f"138{i:08d}" for i in range(5000)], "字" * 268).msgid == "9"
    form = parse_qs(recorder.requests[0].content.decode())
    assert len(form["Mobile"][0].split(",")) == 5000
    assert len(form["Content"][0]) == 268


def test_mobile_list_accepts_strings_and_iterables() -> None:
    assert mobile_list(" 13800138000 ,13912345678\uff0c18600001111,") == ["13800138000", "13912345678", "18600001111"]
    assert mobile_list(iter(["13800138000", " 139 "])) == ["13800138000", "139"]


# ------------------------------------------------------------ request shape


def test_form_encoding_by_default(mock_gateway) -> None:
    gw, recorder = mock_gateway(answer(0, "ok", "5"))
    gw.send(["13800138000", "13912345678"], "Hi 你好")
    request = recorder.requests[0]
    assert request.url == BASE + "/Message/send"
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "Uid": ["demo"],
        "Pwd": [CANARY],
        "Mobile": ["13800138000,13912345678"],
        "Content": ["Hi 你好"],
    }


def test_json_encoding_option(mock_gateway) -> None:
    gw, recorder = mock_gateway(answer(0, "ok", "5"), encoding="json")
    gw.send("13800138000", "Hi")
    assert json.loads(recorder.requests[0].content) == {
        "Uid": "demo",
        "Pwd": CANARY,
        "Mobile": "13800138000",
        "Content": "Hi",
    }


def test_base_url_pasted_with_endpoint_is_trimmed() -> None:
    with Gateway(BASE + "/Message/send/", "u", "p") as gw:
        assert gw.base_url == BASE


def test_json_encoding_against_simulator(sim) -> None:
    async def run() -> SendResult:
        transport = httpx.ASGITransport(app=sim.app)
        async with AsyncGateway(BASE, "demo", CANARY, encoding="json", transport=transport) as gw:
            return await gw.send("13800138000", "Hi")

    assert asyncio.run(run()).msgid == "800000"


# ------------------------------------------------------------ lenient parsing


@pytest.mark.parametrize(
    ("body", "code", "msgid"),
    [
        pytest.param(
            '{"status":"success","respCode":"0","respMsg":"send success", "msgid":"123""}', 0, "123", id="doc"
        ),
        pytest.param('\ufeff {"status":"success","respCode":0,"respMsg":"ok","msgid":123}\r\n', 0, "123", id="bom-num"),
        pytest.param('{"status":"success","respMsg":"ok","msgid":"77"}', 0, "77", id="no-code-success"),
        pytest.param('{"status":"error","respCode":"5","respMsg":"余额不足","msgid":""}', 5, "", id="chinese"),
        pytest.param('{\'status\':\'success\'} {"respCode":"0","msgid":"8",}', 0, "8", id="garbled"),
        pytest.param('{"STATUS":"success","RespCode":"0","MsgId":"9"}', 0, "9", id="key-case"),
    ],
)
def test_parse_answer_recovers(body, code, msgid) -> None:
    fields = parse_answer(body)
    assert fields["respCode"] == code
    assert fields["msgid"] == msgid


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("<html><body>502 Bad Gateway</body></html>", id="html"),
        pytest.param("OK", id="text"),
        pytest.param('{"status":"error","respCode":"0"}', id="contradiction"),
        pytest.param("[1, 2]", id="json-list"),
    ],
)
def test_unrecoverable_answers_raise_protocol_error(mock_gateway, body) -> None:
    gw, _ = mock_gateway(answer(None, raw=body))
    with pytest.raises(E.ProtocolError) as info:
        gw.send("13800138000", "Hi")
    assert info.value.status_code == 200
    assert info.value.snippet == body[:200]


@given(st.text(max_size=300))
def test_parse_answer_never_raises_anything_but_protocol_error(body: str) -> None:
    try:
        fields = parse_answer(body)
    except E.ProtocolError:
        return
    assert isinstance(fields["respCode"], int | str)
    assert isinstance(fields["msgid"], str)


@given(st.integers(min_value=0, max_value=10**18))
def test_doc_shaped_success_always_yields_its_msgid(msgid: int) -> None:
    body = f'{{"status":"success","respCode":"0","respMsg":"send success", "msgid":"{msgid}""}}'
    assert parse_answer(body)["msgid"] == str(msgid)


def test_gbk_answer_is_decoded(mock_gateway) -> None:
    body = '{"status":"error","respCode":"5","respMsg":"余额不足","msgid":""}'.encode("gbk")
    gw, _ = mock_gateway(httpx.Response(200, content=body))
    with pytest.raises(E.InsufficientBalance) as info:
        gw.send("13800138000", "Hi")
    assert info.value.message == "余额不足"


def test_balance_parses_number_inside_message(mock_gateway) -> None:
    gw, _ = mock_gateway(answer(0, "余额:1,234.50条"))
    assert gw.balance() == Balance(Decimal("1234.50"), "余额:1,234.50条")


def test_balance_without_number_is_protocol_error(mock_gateway) -> None:
    gw, recorder = mock_gateway(answer(0, "balance"), retries=0)
    with pytest.raises(E.ProtocolError, match="no number"):
        gw.balance()
    assert len(recorder.requests) == 1


# ------------------------------------------------------------ HTTP failures and retries


def test_http_5xx_on_send_is_protocol_error_not_retried(mock_gateway) -> None:
    gw, recorder = mock_gateway(answer(None, raw="<h1>500 Internal Server Error</h1>", http=500))
    with pytest.raises(E.ProtocolError, match="may or may not have been processed") as info:
        gw.send("13800138000", "Hi")
    assert info.value.status_code == 500
    assert len(recorder.requests) == 1


def test_http_5xx_on_balance_is_retried(mock_gateway) -> None:
    gw, recorder = mock_gateway(answer(None, raw="busy", http=503), answer(0, "42"))
    assert gw.balance().value == Decimal(42)
    assert len(recorder.requests) == 2


def test_connect_error_is_retried_then_succeeds(mock_gateway) -> None:
    gw, recorder = mock_gateway(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), answer(0, "ok", "31"))
    assert gw.send("13800138000", "Hi").msgid == "31"
    assert len(recorder.requests) == 3


def test_connect_error_exhausts_retries(mock_gateway) -> None:
    gw, recorder = mock_gateway(httpx.ConnectError("refused"), retries=3)
    with pytest.raises(E.GatewayUnreachable, match="cannot reach the gateway"):
        gw.send("13800138000", "Hi")
    assert len(recorder.requests) == 4


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(httpx.ReadTimeout("slow"), id="read-timeout"),
        pytest.param(httpx.WriteTimeout("slow"), id="write-timeout"),
        pytest.param(httpx.ReadError("reset"), id="read-error"),
        pytest.param(httpx.RemoteProtocolError("closed"), id="server-disconnected"),
    ],
)
def test_send_after_request_went_out_is_outcome_unknown_never_retried(mock_gateway, error) -> None:
    gw, recorder = mock_gateway(error, answer(0, "ok", "1"))
    with pytest.raises(E.OutcomeUnknown, match="may or may not"):
        gw.send("13800138000", "Hi")
    assert len(recorder.requests) == 1


def test_balance_read_timeout_is_retried(mock_gateway) -> None:
    gw, recorder = mock_gateway(httpx.ReadTimeout("slow"), answer(0, "10"))
    assert gw.balance().value == Decimal(10)
    assert len(recorder.requests) == 2


def test_async_read_timeout_is_outcome_unknown_without_second_request() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    async def run() -> None:
        async with AsyncGateway(BASE, "demo", CANARY, transport=httpx.MockTransport(handler), backoff=0) as gw:
            await gw.send("13800138000", "Hi")

    with pytest.raises(E.OutcomeUnknown):
        asyncio.run(run())
    assert len(calls) == 1


def test_real_connection_refused_is_unreachable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with (
            Gateway(f"http://127.0.0.1:{port}", "demo", CANARY, retries=1, backoff=0) as gw,
            pytest.raises(E.GatewayUnreachable),
        ):
            gw.send("13800138000", "Hi")


# ------------------------------------------------------------ the password never shows


def test_password_absent_from_repr_str_and_logs(mock_gateway, canary_logs) -> None:
    echo = '{"status":"error","respCode":"1","respMsg":"bad pwd ' + CANARY + '","msgid":""}'
    gw, _ = mock_gateway(answer(None, raw=echo))
    assert CANARY not in repr(gw)
    assert CANARY not in str(vars(gw))
    with pytest.raises(E.AuthError) as info:
        gw.send("13800138000", "Hi")
    texts = [str(info.value), repr(info.value), info.value.body, info.value.message]
    assert all(CANARY not in t for t in texts)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError("refused"), id="unreachable"),
        pytest.param(httpx.ReadTimeout("slow"), id="timeout"),
        pytest.param(answer(None, raw="<html>" + CANARY + "</html>", http=502), id="protocol"),
    ],
)
def test_password_absent_from_every_failure(mock_gateway, canary_logs, failure) -> None:
    import traceback

    gw, _ = mock_gateway(failure, retries=0)
    with pytest.raises(E.SmsdataError) as info:
        gw.send("13800138000", "Hi")
    assert CANARY not in "".join(traceback.format_exception(info.value))


def _every_form(pwd: str) -> set[str]:
    """The forms a server may echo a password back in."""
    from html import escape
    from urllib.parse import quote, quote_plus

    php = {
        escape(pwd).replace("&#x27;", "&#039;"),
        json.dumps(pwd)[1:-1].replace("/", "\\/"),
    }  # htmlspecialchars, json_encode
    return {pwd, quote(pwd, safe=""), quote_plus(pwd), escape(pwd), json.dumps(pwd)[1:-1], *php}


def _shown(exc: BaseException) -> str:
    """All a person or an error tracker can see of ``exc``: its chain formatted with frame locals,
    and the request bodies any exception in the chain still holds."""
    import traceback

    text = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    seen: BaseException | None = exc
    while seen is not None:
        request = getattr(seen, "_request", None)
        if request is not None:
            text += request.content.decode("latin-1")
        text += repr(vars(seen))
        seen = seen.__cause__ or seen.__context__
    return text


@pytest.mark.parametrize("pwd", ["800001", "1", "p", "p@ss/w0rd=1"])
def test_a_password_inside_an_answer_never_corrupts_it(pwd: str) -> None:
    success = '{"status":"success","respCode":"0","respMsg":"send success","msgid":"800001""}'
    with Gateway(BASE, "demo", pwd, transport=httpx.MockTransport(lambda r: answer(None, raw=success))) as gw:
        result = gw.send("13800138000", "Hi")
    assert (result.msgid, result.code, result.message) == ("800001", 0, "send success")
    balance = '{"status":"success","respCode":"0","respMsg":"1800.10","msgid":""}'
    with Gateway(BASE, "demo", pwd, transport=httpx.MockTransport(lambda r: answer(None, raw=balance))) as gw:
        assert str(gw.balance().value) == "1800.10"


@pytest.mark.parametrize("pwd", ["800001", "p@ss/w0rd=1", 'it\'s/"ä"', CANARY])
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param("refused", id="connection-refused"),
        pytest.param("timeout", id="read-timeout"),
        pytest.param("html-500", id="html-500-echoing-the-form"),
        pytest.param("code-1", id="code-1-echoing-the-password"),
    ],
)
def test_no_failure_shows_the_password_in_any_form(pwd: str, failure: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        form = request.content.decode()
        if failure == "refused":
            raise httpx.ConnectError("refused", request=request)
        if failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if failure == "html-500":
            php = escape(pwd).replace("&#x27;", "&#039;")
            slashes = json.dumps(pwd).replace("/", "\\/")
            page = f"<html><p>{form}</p><p>{escape(pwd)} {php}</p><script>{json.dumps(pwd)} {slashes}</script></html>"
            return httpx.Response(500, text=page)
        return answer(1, f"wrong pwd {pwd} ({form})")

    from html import escape

    with Gateway(BASE, "demo", pwd, transport=httpx.MockTransport(handler), retries=0) as gw:
        error = _failure_of(functools.partial(gw.send, "13800138000", "Hi"))
    assert isinstance(error, E.SmsdataError)
    shown = _shown(error)
    assert "body = <request body" in shown  # locals were captured: the canary can fail
    assert not any(form in shown for form in _every_form(pwd)), shown
    assert error.__cause__ is None  # no httpx error holding the body ...
    assert error.__context__ is None  # ... not even implicitly


def _failure_of(call: Callable[[], object]) -> BaseException:
    """The exception ``call`` raises; caught here, in a frame holding no password."""
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("no exception")


def test_redaction_covers_every_echoed_form() -> None:
    from smsdata.config import Secret

    secret = Secret("p@ss/w0rd=1")
    for form in _every_form("p@ss/w0rd=1") | {"p%40ss%2fw0rd%3d1"}:
        assert secret.redact(f"<{form}>") == "<**********>"


@pytest.mark.parametrize("client", ["sync", "async"])
@pytest.mark.parametrize("call", ["send", "balance"])
def test_a_password_in_the_url_is_not_in_an_unreachable_gateways_traceback(client: str, call: str) -> None:
    """SMSDATA_URL may carry credentials (``http://acct:pwd@host``): every frame down to the
    request holds the URL, so its repr must hide them (httpx.URL shows ``[secure]``)."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    url = f"http://acct:{CANARY}-url@gw.example/Admin/index.php"
    args = ("13800138000", "Hi") if call == "send" else ()
    if client == "sync":
        with Gateway(url, "demo", "p", transport=httpx.MockTransport(refused), retries=0) as gw:
            error = _failure_of(functools.partial(getattr(gw, call), *args))
    else:

        async def fail() -> BaseException:
            async with AsyncGateway(url, "demo", "p", transport=httpx.MockTransport(refused), retries=0) as agw:
                return await _async_failure(getattr(agw, call)(*args))

        error = asyncio.run(fail())
    assert isinstance(error, E.GatewayUnreachable)
    shown = _shown(error)
    assert "url = URL('http://acct:[secure]@gw.example" in shown  # locals were captured: the canary can fail
    assert CANARY not in shown


async def _async_failure(pending: Awaitable[object]) -> BaseException:
    """The exception awaiting ``pending`` raises; caught here, in a frame holding no password."""
    try:
        await pending
    except BaseException as exc:
        return exc
    raise AssertionError("no exception")
