"""Settings from the environment and .env; the password never shows."""

from __future__ import annotations

import pickle
import re
import traceback
from pathlib import Path

import pytest

from smsdata.config import Secret, Settings, load_settings
from smsdata.errors import ConfigError, GatewayUnreachable
from smsdata.gateway import Gateway

from .conftest import CANARY


def test_defaults_without_anything() -> None:
    settings = load_settings()
    assert settings == Settings(url=None, uid=None, pwd=Secret(""), home=Path("smsdata-home"), tz="Asia/Shanghai")
    assert str(settings.zone) == "Asia/Shanghai"


def test_environment_and_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"SMSDATA_URL=http://gw.example/Admin/index.php/\nSMSDATA_UID=file-uid\nSMSDATA_PWD={CANARY}\n"
        "SMSDATA_TZ=Asia/Hong_Kong\n"
    )
    monkeypatch.setenv("SMSDATA_UID", "env-uid")
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    settings = load_settings(env)
    assert settings.url == "http://gw.example/Admin/index.php"
    assert settings.uid == "env-uid"  # the environment wins over the file
    assert settings.pwd.reveal() == CANARY
    assert settings.home == tmp_path / "home"
    assert settings.tz == "Asia/Hong_Kong"


def test_password_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_PWD", CANARY)
    settings = load_settings()
    assert CANARY not in repr(settings)
    assert CANARY not in str(settings)
    assert CANARY not in f"{settings.pwd}"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(settings.pwd)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "SMSDATA_URL, SMSDATA_UID, SMSDATA_PWD not set", id="nothing"),
        pytest.param({"SMSDATA_URL": "http://x", "SMSDATA_UID": "u"}, "SMSDATA_PWD not set", id="no-pwd"),
    ],
)
def test_missing_gateway_settings_named(monkeypatch: pytest.MonkeyPatch, env: dict, message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        Gateway.from_env()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("SMSDATA_TZ", "Mars/Olympus", "not a known time zone", id="tz"),
        pytest.param("SMSDATA_URL", "www.467890.com/Admin", "must start with http", id="url"),
    ],
)
def test_invalid_settings(monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_gateway_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_URL", "http://gw.example/Admin/index.php")
    monkeypatch.setenv("SMSDATA_UID", "u1")
    monkeypatch.setenv("SMSDATA_PWD", CANARY)
    with Gateway.from_env(timeout=3.0) as gw:
        assert (gw.base_url, gw.uid, gw.timeout) == ("http://gw.example/Admin/index.php", "u1", 3.0)
        assert CANARY not in repr(gw)


@pytest.mark.parametrize(
    ("text", "amount", "currency", "money"),
    [
        ("0.045 CNY", "0.045", "CNY", "CNY 45.00"),
        ("0.045 元", "0.045", "CNY", "CNY 45.00"),
        ("¥0.045", "0.045", "CNY", "CNY 45.00"),
        ("0.1 usd", "0.1", "USD", "USD 100.00"),
        ("0.05", "0.05", "", "50.00"),
    ],
)
def test_unit_price_in_the_forms_people_write_it(text: str, amount: str, currency: str, money: str) -> None:
    from decimal import Decimal

    from smsdata.config import UnitPrice

    price = UnitPrice.parse(text)
    assert (price.amount, price.currency) == (Decimal(amount), currency)
    assert price.money(1000) == money


@pytest.mark.parametrize("text", ["cheap", "-0.1", "0.1 CNYY", "1e-3"])
def test_a_unit_price_that_is_not_one_is_a_config_error(text: str) -> None:
    from smsdata.config import UnitPrice

    with pytest.raises(ConfigError, match="unit price"):
        UnitPrice.parse(text)


def test_settings_are_read_once_while_their_sources_are_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import smsdata.config as config

    parsed: list[str] = []
    real = config.dotenv_values
    monkeypatch.setattr(config, "dotenv_values", lambda path: parsed.append(path) or real(path))
    config._parse_env_file.cache_clear()
    env = tmp_path / ".env"
    env.write_text("SMSDATA_TZ=Asia/Hong_Kong\nSMSDATA_UNIT_PRICE=0.05 CNY\n")
    first = load_settings(env)
    assert first is load_settings(env)  # one object, shared by every defaulted call
    assert (config.default_tz(env), str(config.unit_price(env).amount)) == ("Asia/Hong_Kong", "0.05")
    assert len(parsed) == 1  # the file was parsed once for the five reads

    monkeypatch.setenv("SMSDATA_TZ", "Europe/Paris")  # a change to the environment is seen at once
    assert load_settings(env).tz == config.default_tz(env) == "Europe/Paris"
    assert len(parsed) == 1
    monkeypatch.delenv("SMSDATA_TZ")
    env.write_text("SMSDATA_TZ=Asia/Tokyo\n")  # and so is an edit of the file
    assert load_settings(env).tz == "Asia/Tokyo"
    assert config.unit_price(env) is None
    assert len(parsed) == 2
    assert load_settings(env) is not first


def test_a_broken_gateway_setting_does_not_stop_reading_the_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    from smsdata.config import default_tz

    monkeypatch.setenv("SMSDATA_URL", "not a url")
    monkeypatch.setenv("SMSDATA_TZ", "Asia/Tokyo")
    assert default_tz() == "Asia/Tokyo"
    with pytest.raises(ConfigError, match="must start with http"):
        load_settings()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        pytest.param("http://:8080/x", "it has no host", id="no-host"),
        pytest.param("http:///Admin/index.php", "it has no host", id="empty-host"),
        pytest.param("http://gw.example:abc", "Port could not be cast to integer value as 'abc'", id="port-text"),
        pytest.param("http://gw.example:99999", "Port out of range 0-65535", id="port-range"),
        pytest.param("http://gw.example:0", "port 0", id="port-zero"),
        pytest.param("http://[::1", "Invalid IPv6 URL", id="ipv6"),
        pytest.param("http://gw example/x", "it holds ' '", id="space"),
        pytest.param("http://gw\x00.example", "it holds '\\x00'", id="nul"),
    ],
)
def test_a_bad_url_is_a_config_error_before_any_request(monkeypatch: pytest.MonkeyPatch, url: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Gateway(url, "u", CANARY)
    assert str(caught.value) == f"the gateway URL {url!r} is not a usable http(s) address: {why}"
    if "\x00" in url:
        return  # no environment variable can hold it
    monkeypatch.setenv("SMSDATA_URL", url)
    with pytest.raises(ConfigError, match=re.escape(f"SMSDATA_URL {url!r} is not a usable http(s) address: {why}")):
        load_settings()


def test_a_host_httpx_refuses_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"the gateway URL 'http://xn--a.com' is not a usable http\(s\) address: "):
        Gateway("http://xn--a.com", "u", "p")


def test_a_password_in_the_url_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://acct:{CANARY}@127.0.0.1:1/Admin/index.php"
    with Gateway(url, "u", "p", retries=0, timeout=2) as gw:
        assert (
            repr(gw)
            == "Gateway(base_url='http://acct:**********@127.0.0.1:1/Admin/index.php', uid='u', encoding='form')"
        )
        with pytest.raises(GatewayUnreachable) as caught:
            gw.balance()
    assert CANARY not in str(caught.value)
    assert "acct:**********@127.0.0.1:1" in str(caught.value)
    with pytest.raises(ConfigError) as bad:
        Gateway(f"http://acct:{CANARY}@gw.example:99999", "u", "p")
    assert str(bad.value) == (
        "the gateway URL 'http://acct:**********@gw.example:99999' is not a usable http(s) address: "
        "Port out of range 0-65535"
    )
    monkeypatch.setenv("SMSDATA_URL", url)
    assert CANARY not in repr(load_settings())
    assert load_settings().url == url  # kept for the requests
    monkeypatch.setenv("SMSDATA_URL", f"ftp://acct:{CANARY}@gw.example")
    with pytest.raises(ConfigError, match=r"got 'ftp://acct:\*{10}@gw.example'"):
        load_settings()


def _traceback_with_locals(exc: BaseException) -> str:
    """The traceback as Sentry or ``pytest -l`` show it, every frame's locals, from smsdata's frames
    on (the test's own frame holds the canary it passed in)."""
    assert exc.__traceback__ is not None
    frames = exc.__traceback__.tb_next
    return "".join(traceback.TracebackException(type(exc), exc, frames, capture_locals=True).format())


@pytest.mark.parametrize(
    ("url", "tz"),
    [("http://127.0.0.1:9/x", "Bad/Zone"), (f"http://acct:{CANARY}-url@gw.example:99999/x", "Asia/Shanghai")],
    ids=["bad-zone", "bad-port"],
)
def test_a_failing_setting_shows_no_secret_in_a_traceback_with_locals(
    monkeypatch: pytest.MonkeyPatch, url: str, tz: str
) -> None:
    monkeypatch.setenv("SMSDATA_URL", url)
    monkeypatch.setenv("SMSDATA_PWD", CANARY)
    monkeypatch.setenv("SMSDATA_TZ", tz)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert CANARY not in _traceback_with_locals(caught.value)


def test_a_refused_gateway_shows_no_secret_in_a_traceback_with_locals() -> None:
    url = f"http://acct:{CANARY}-url@gw.example:99999/x"
    with pytest.raises(ConfigError) as caught:
        Gateway(url, "u", CANARY)
    shown = _traceback_with_locals(caught.value)
    assert CANARY not in shown
    assert "Gateway(base_url='?'" in shown  # a half-built client still has a repr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("acct:hunter2@gw.example/x", "acct:**********@gw.example/x"),
        ("http://gw.example/x?pwd=hunter2&uid=1", "http://gw.example/x?pwd=**********&uid=1"),
    ],
)
def test_passwords_in_urls_are_masked_without_a_scheme_and_in_queries(text: str, shown: str) -> None:
    from smsdata.config import shown_url

    assert shown_url(text) == shown


@pytest.mark.parametrize(
    "tail",
    ["#CANARY", "x?p=CANARY", "x?CANARY", "x%3Fpwd=CANARY", "x%253Fpwd=CANARY", "x;pwd=CANARY", "x？CANARY"],
)
def test_a_gateway_url_hiding_a_password_past_its_path_is_refused_without_showing_it(tail: str) -> None:
    """Only a plain path may follow the host: /Message/send goes after it, and a query, fragment,
    parameters or escapes may hold a password in a form no masking knows."""
    url = f"http://gw.example/{tail.replace('CANARY', CANARY)}"
    refused = r"the gateway URL http://gw.example/\.\.\. must end in a plain path"
    with pytest.raises(ConfigError, match=refused) as caught:
        Gateway(url, "u", "p")
    assert CANARY not in _traceback_with_locals(caught.value)
