"""smsdata: send SMS campaigns through a bulk-SMS HTTP gateway and report on their delivery.

>>> import smsdata as sms
>>> gw = sms.Gateway.from_env()  # doctest: +SKIP
"""

from .config import Secret, Settings, load_settings
from .content import count_segments
from .errors import (
    AccountFrozen,
    AuthError,
    ConfigError,
    ContentTooLong,
    EmptyContent,
    GatewayError,
    GatewayUnreachable,
    InsufficientBalance,
    InvalidMobile,
    OutcomeUnknown,
    ProtocolError,
    SendFailed,
    SmsdataError,
    TooManyMobiles,
)
from .gateway import AsyncGateway, Balance, Gateway, SendResult

__version__ = "0.1.0"

__all__ = [
    "AccountFrozen",
    "AsyncGateway",
    "AuthError",
    "Balance",
    "ConfigError",
    "ContentTooLong",
    "EmptyContent",
    "Gateway",
    "GatewayError",
    "GatewayUnreachable",
    "InsufficientBalance",
    "InvalidMobile",
    "OutcomeUnknown",
    "ProtocolError",
    "Secret",
    "SendFailed",
    "SendResult",
    "Settings",
    "SmsdataError",
    "TooManyMobiles",
    "count_segments",
    "load_settings",
]
