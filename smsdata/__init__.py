"""smsdata: send SMS campaigns through a bulk-SMS HTTP gateway and report on their delivery.

>>> import smsdata as sms
>>> gw = sms.Gateway.from_env()  # doctest: +SKIP
"""

from .balance import BalanceBurn, balance_burn, balance_history, record_balance
from .campaign import CampaignResult, resume_campaign, send_campaign
from .config import Secret, Settings, load_settings
from .content import count_segments
from .errors import (
    AccountFrozen,
    AuthError,
    CampaignBusy,
    CampaignInterrupted,
    CampaignStopped,
    ConfigError,
    ContentTooLong,
    EmptyContent,
    GatewayError,
    GatewayUnreachable,
    InsufficientBalance,
    InvalidMobile,
    LeaseLost,
    OutcomeUnknown,
    ProtocolError,
    ReportError,
    SendFailed,
    SmsdataError,
    TooManyMobiles,
)
from .export import ExportError, export, mask_mobiles
from .gateway import AsyncGateway, Balance, Gateway, SendResult
from .ingest import IngestError, IngestResult, ingest_reports, read_quarantine, read_reports
from .kpi import (
    KpiError,
    audit,
    compare,
    dead_numbers,
    delivery_rate,
    latency,
    status_breakdown,
    time_to_receipt,
)
from .ledger import Ledger, LedgerError, read_sends
from .numbers import carrier_of, normalise_mobiles
from .planning import BalanceWarning, CampaignPlan, PlanSummary, plan_campaign
from .sheets import read_campaign

__version__ = "0.1.0"

# Charts, the report and servers load matplotlib or uvicorn: imported on first use,
# so `import smsdata` stays cheap.
_LAZY = {
    "build_report": "report",
    "plot_balance": "charts",
    "plot_carrier_rates": "charts",
    "plot_delivery_rate": "charts",
    "plot_latency": "charts",
    "plot_status_breakdown": "charts",
    "serve_in_background": "_serve",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'smsdata' has no attribute {name!r}")


__all__ = [
    "AccountFrozen",
    "AsyncGateway",
    "AuthError",
    "Balance",
    "BalanceBurn",
    "BalanceWarning",
    "CampaignBusy",
    "CampaignInterrupted",
    "CampaignPlan",
    "CampaignResult",
    "CampaignStopped",
    "ConfigError",
    "ContentTooLong",
    "EmptyContent",
    "ExportError",
    "Gateway",
    "GatewayError",
    "GatewayUnreachable",
    "IngestError",
    "IngestResult",
    "InsufficientBalance",
    "InvalidMobile",
    "KpiError",
    "LeaseLost",
    "Ledger",
    "LedgerError",
    "OutcomeUnknown",
    "PlanSummary",
    "ProtocolError",
    "ReportError",
    "Secret",
    "SendFailed",
    "SendResult",
    "Settings",
    "SmsdataError",
    "TooManyMobiles",
    "audit",
    "balance_burn",
    "balance_history",
    "build_report",
    "carrier_of",
    "compare",
    "count_segments",
    "dead_numbers",
    "delivery_rate",
    "export",
    "ingest_reports",
    "latency",
    "load_settings",
    "mask_mobiles",
    "normalise_mobiles",
    "plan_campaign",
    "plot_balance",
    "plot_carrier_rates",
    "plot_delivery_rate",
    "plot_latency",
    "plot_status_breakdown",
    "read_campaign",
    "read_quarantine",
    "read_reports",
    "read_sends",
    "record_balance",
    "resume_campaign",
    "send_campaign",
    "serve_in_background",
    "status_breakdown",
    "time_to_receipt",
]
