"""smsdata: send SMS campaigns through a bulk-SMS HTTP gateway and report on their delivery.

>>> import smsdata as sms
>>> gw = sms.Gateway.from_env()  # doctest: +SKIP
"""

from .campaign import (
    BalanceWarning,
    CampaignPlan,
    CampaignResult,
    CampaignStopped,
    PlanSummary,
    plan_campaign,
    resume_campaign,
    send_campaign,
)
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
from .ingest import IngestError, IngestResult, ingest_reports, read_quarantine, read_reports
from .ledger import Ledger, LedgerError, read_sends
from .numbers import carrier_of, normalise_mobiles
from .sheets import read_campaign

__version__ = "0.1.0"

__all__ = [
    "AccountFrozen",
    "AsyncGateway",
    "AuthError",
    "Balance",
    "BalanceWarning",
    "CampaignPlan",
    "CampaignResult",
    "CampaignStopped",
    "ConfigError",
    "ContentTooLong",
    "EmptyContent",
    "Gateway",
    "GatewayError",
    "GatewayUnreachable",
    "IngestError",
    "IngestResult",
    "InsufficientBalance",
    "InvalidMobile",
    "Ledger",
    "LedgerError",
    "OutcomeUnknown",
    "PlanSummary",
    "ProtocolError",
    "Secret",
    "SendFailed",
    "SendResult",
    "Settings",
    "SmsdataError",
    "TooManyMobiles",
    "carrier_of",
    "count_segments",
    "ingest_reports",
    "load_settings",
    "normalise_mobiles",
    "plan_campaign",
    "read_campaign",
    "read_quarantine",
    "read_reports",
    "read_sends",
    "resume_campaign",
    "send_campaign",
]
