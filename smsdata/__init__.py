"""smsdata: send SMS campaigns through a bulk-SMS HTTP gateway and report on their delivery.

>>> import smsdata as sms
>>> gw = sms.Gateway.from_env()  # doctest: +SKIP
"""

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
    KpiError,
    LeaseLost,
    OutcomeUnknown,
    ProtocolError,
    ReportError,
    SendFailed,
    SmsdataError,
    TooManyMobiles,
)

__version__ = "0.1.0"

# Everything but the exceptions is imported on first use: `import smsdata` stays cheap, and a
# script that only ingests does not load the HTTP client, matplotlib or uvicorn.
_LAZY = {
    "AsyncGateway": "gateway",
    "Balance": "gateway",
    "BalanceBurn": "balance",
    "BalanceWarning": "planning",
    "CampaignPlan": "planning",
    "CampaignResult": "campaign",
    "ExportError": "_export",
    "Gateway": "gateway",
    "IngestError": "ingest",
    "IngestResult": "ingest",
    "Ledger": "ledger",
    "LedgerError": "ledger",
    "PlanSummary": "planning",
    "Secret": "config",
    "SendResult": "gateway",
    "Settings": "config",
    "audit": "kpi",
    "balance_burn": "balance",
    "balance_history": "balance",
    "build_report": "report",
    "carrier_of": "numbers",
    "compare": "kpi",
    "count_segments": "content",
    "dead_numbers": "kpi",
    "delivery_rate": "kpi",
    "export": "_export",
    "ingest_reports": "ingest",
    "latency": "kpi",
    "load_settings": "config",
    "mask_mobiles": "_export",
    "normalise_mobiles": "numbers",
    "plan_campaign": "planning",
    "plot_balance": "charts",
    "plot_carrier_rates": "charts",
    "plot_delivery_rate": "charts",
    "plot_latency": "charts",
    "plot_status_breakdown": "charts",
    "read_campaign": "sheets",
    "read_quarantine": "ingest",
    "read_reports": "ingest",
    "read_sends": "ledger",
    "record_balance": "balance",
    "resume_campaign": "campaign",
    "send_campaign": "campaign",
    "serve_in_background": "_serve",
    "status_breakdown": "kpi",
    "sync_sends": "sync",
    "time_to_receipt": "kpi",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # found once
        return value
    raise AttributeError(f"module 'smsdata' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "sync_sends",
    "time_to_receipt",
]
