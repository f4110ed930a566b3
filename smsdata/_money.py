"""Money in smsdata: one rule, in one place.

Every amount handed out as a value is a :class:`~decimal.Decimal`: a balance
(:class:`smsdata.Balance`, :func:`smsdata.record_balance`,
``BalanceBurn.balance``), a price (:class:`smsdata.config.UnitPrice`,
``CampaignPlan.price``), a cost or a spend (``PlanSummary.estimated_cost``,
``Headline.spend``, ``DemoSummary.spent``). The gateway sends balances as text
and the ledger stores them as text: Decimal keeps them exact, and a balance
compared with a cost answers what the arithmetic on paper answers
(``0.1 + 0.2`` units is ``0.3``, not ``0.30000000000000004``).

Tables are the exception, by design: money *columns* of a DataFrame
(``balance_history()["value"]``, ``BalanceBurn.daily``/``.campaigns``) and
rates derived by division (``burn_per_day``, ``days_left``,
``cost_per_delivered``) are float64, so pandas, DuckDB and Spark compute on
them vectorised; a ratio has no exact decimal value anyway.

>>> exact(0.1 + 0.2)
Decimal('0.3')
"""

from __future__ import annotations

import math
from decimal import Decimal

PLACES = 6
"""Decimal places kept when a float sum (from a table) becomes an amount: a micro-unit."""


def exact(value: float | int | Decimal) -> Decimal:
    """An amount summed as float (in DuckDB or pandas) as the Decimal it stands for, to
    :data:`PLACES` places; NaN stays ``Decimal('NaN')``."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) and math.isnan(value):
        return Decimal("NaN")
    return Decimal(repr(round(float(value), PLACES)))
