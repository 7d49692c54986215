"""Purchase history, invoice lines and the following year's purchases (truth).

One latent process drives all three.  For every account x family with a wallet:

* a customer buys the family with probability
  ``sigmoid(b_f + 0.8 propensity + 0.4 fit + 0.25 size_z)`` (at least one family each);
* its share of wallet is ``s = sigmoid(logit(Beta(0.8, 1.8)) + 0.35 propensity)``, capped
  to [0.01, 0.97]: many small shares, a few near the whole wallet;
* it spends at the yearly rate ``s * wallet * exp(g * (t - mid-2025))`` while active, with
  ``g = 0.03 + 0.06 propensity + N(0, 0.08)`` per account (+ N(0, 0.05) per family);
* 40% of pairs start inside the window (adoption), some stop (lapse), and ~5% of
  customers lapse altogether before the as-of date;
* each active pair x year becomes ``max(1, Poisson(lambda))`` invoice lines whose amounts
  (gamma weights x month seasonality) add up exactly to that year's spend;
* ~2% of invoice lines get a later credit note (negative amount, doc_type credit_note).

The next year continues the same process: live pairs grow by ``exp(g)`` unless the pair
or the whole account churns, lapsed pairs may come back, and families not yet bought are
adopted with ``sigmoid(-5.2 + n_f + 1.1 propensity + 0.5 fit + 2.0 active + 0.15 size_z)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from growthmap.demo._catalog import FAMILIES, SEASONALITY
from growthmap.demo._regimes import DEFAULT, Regime
from growthmap.demo._util import START_DAY, contract_table, dates, ids, ids2, sigmoid
from growthmap.demo._world import PRODUCT_CUM, AccountBlock

__all__ = ["HISTORY_DAYS", "History", "draw_history", "draw_lines", "draw_next_year"]

#: Days of history: 2023-01-01 .. 2025-12-31 (day 0 .. HISTORY_DAYS - 1).
HISTORY_DAYS = 1096
#: First day of each calendar year of history, and the end.
YEAR_BOUNDS = np.array([0, 365, 731, HISTORY_DAYS])
_MID_2025 = 913 / 365.25  # the rate's reference point, in years since 2023-01-01
_BUY_BASE = np.array([f[6] for f in FAMILIES])
_NEXT_SHIFT = np.array([f[7] for f in FAMILIES])
_MARGIN = np.array([f[4] for f in FAMILIES])
_DECLINE = np.array([f[2] == "decline" for f in FAMILIES])
_CREDIT_RATE = 0.02


@dataclass
class History:
    """Per account x family (only pairs with a wallet) state of the latent process."""

    acc: np.ndarray  # local account index
    fam: np.ndarray  # family index
    wallet: np.ndarray
    bought: np.ndarray  # bought at some time in the history
    share: np.ndarray  # share of wallet while active
    growth: np.ndarray  # yearly log growth of the spend rate
    start: np.ndarray  # first active day (history day)
    end: np.ndarray  # first inactive day (HISTORY_DAYS when still buying)
    spend: np.ndarray  # (pairs, 3) spend per calendar year 2023..2025
    acct_growth: np.ndarray  # per account
    group_start: np.ndarray  # per account: index of its first pair

    @property
    def live(self) -> np.ndarray:
        """Still buying on the as-of date."""
        return self.bought & (self.end == HISTORY_DAYS)


def _per_account_any(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.logical_or.reduceat(mask, starts)


def draw_history(acc: AccountBlock, rng: np.random.Generator,
                 regime: Regime = DEFAULT) -> History:
    """Which families each customer bought, at what share, from when to when.

    A ``static_history`` regime starts every bought family on the first day and lets
    none lapse (no conversions, no cross-sell, no churn before the as-of date);
    ``lapse_shift`` makes pairs and accounts lapse more often.
    """
    n = len(acc.number)
    a, f = np.nonzero(acc.wallet > 0)  # sorted by account: every account has >= 4 families
    p = len(a)
    starts = np.searchsorted(a, np.arange(n))
    prop, fit = acc.propensity[a], acc.fit[a]
    u = rng.random((7, p))
    z = rng.standard_normal((2, p))
    z_acc = rng.standard_normal(n)
    u_acc = rng.random((2, n))

    score = _BUY_BASE[f] + 0.8 * prop + 0.4 * fit + 0.25 * acc.size_z[a]
    cust = acc.is_customer[a]
    bought = cust & (u[0] < sigmoid(score))
    gumbel = score - np.log(-np.log(np.clip(u[1], 1e-12, 1 - 1e-12)))
    best = gumbel == np.maximum.reduceat(gumbel, starts)[a]
    bought |= cust & best & ~_per_account_any(bought, starts)[a]

    share = np.clip(sigmoid(_logit(rng.beta(0.8, 1.8, p)) + 0.35 * prop), 0.01, 0.97)
    acct_growth = 0.03 + 0.06 * acc.propensity + 0.08 * z_acc
    growth = acct_growth[a] + 0.05 * z[0]

    start = np.where(u[2] < 0.6, 0, (u[3] * 1035).astype(np.int64))
    lapse = u[4] < sigmoid(-2.8 + regime.lapse_shift - 0.5 * prop + 0.7 * _DECLINE[f])
    acct_lapse = u_acc[0] < sigmoid(-3.2 + regime.lapse_shift - 0.8 * acc.propensity)
    if regime.static_history:
        start = np.zeros(p, dtype=np.int64)
        lapse = np.zeros(p, dtype=bool)
        acct_lapse = np.zeros(n, dtype=bool)
    lapse_day = start + 90 + (u[5] * np.maximum(1050 - start - 90, 0)).astype(np.int64)
    end = np.where(lapse & (start + 90 < 1050), lapse_day, HISTORY_DAYS)
    acct_lapse_day = 200 + (u_acc[1] * 800).astype(np.int64)
    end = np.where(acct_lapse[a], np.minimum(end, acct_lapse_day[a]), end)
    start = np.minimum(start, np.maximum(end - 120, 0))

    lo = np.clip(YEAR_BOUNDS[None, :-1], start[:, None], end[:, None])
    hi = np.clip(YEAR_BOUNDS[None, 1:], start[:, None], end[:, None])
    years = (hi - lo) / 365.25
    mid = (lo + hi) / 2 / 365.25
    rate = (share * acc.wallet[a, f])[:, None] * np.exp(growth[:, None] * (mid - _MID_2025))
    spend = np.where(bought[:, None], rate * years, 0.0)
    return History(a, f, acc.wallet[a, f], bought, share, growth, start, end, spend,
                   acct_growth, starts)


def _logit(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 1e-9, 1 - 1e-9)
    return np.log(x / (1 - x))


@dataclass
class Lines:
    """Invoice and credit-note lines of a block, sorted by account and day."""

    acc: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    table: pa.Table


def draw_lines(acc: AccountBlock, hist: History, list_price: np.ndarray,
               product_ids: pa.Array, rng: np.random.Generator,
               lines_factor: float = 1.0) -> Lines:
    """Turn each active pair x year into invoice lines, then add credit notes.

    ``lines_factor`` scales how many lines a year's spend is split into (a retail
    regime's many small baskets).
    """
    pair, year = np.nonzero(hist.spend > 0)
    spend = hist.spend[pair, year]
    lo = np.clip(YEAR_BOUNDS[year], hist.start[pair], hist.end[pair])
    hi = np.clip(YEAR_BOUNDS[year + 1], hist.start[pair], hist.end[pair])
    years = (hi - lo) / 365.25
    yearly = spend / np.maximum(years, 1e-9)
    lam = np.minimum(1.6 + 3.7 * (yearly / 5000.0) ** 0.4, 52.0) * years
    if lines_factor != 1.0:
        lam = lam * lines_factor
    count = np.maximum(1, rng.poisson(lam))
    group = np.repeat(np.arange(len(pair)), count)
    total = len(group)
    u = rng.random((3, total))
    day = lo[group] + (u[0] * (hi - lo)[group]).astype(np.int64)
    month = (np.datetime64("1970-01-01") + (START_DAY + day).astype("timedelta64[D]")).astype(
        "datetime64[M]").astype(np.int64) % 12
    weight = rng.gamma(2.0, 1.0, total) * SEASONALITY[month]
    amount = spend[group] * weight / np.bincount(group, weights=weight)[group]
    fam = hist.fam[pair][group]
    product = fam * 10 + np.searchsorted(PRODUCT_CUM, u[1])
    quantity = np.maximum(1.0, np.round(amount / list_price[product]))
    cost = amount * (1 - _MARGIN[fam]) * np.exp(rng.normal(0, 0.08, total))
    a = hist.acc[pair][group]

    # credit notes: a share of a line, or all of it (a return), a few weeks later
    credited = np.flatnonzero(u[2] < _CREDIT_RATE / (1 - _CREDIT_RATE))
    full = rng.random(len(credited)) < 0.4
    frac = np.where(full, 1.0, rng.uniform(0.05, 0.6, len(credited)))
    c_day = day[credited] + rng.integers(3, 46, len(credited))
    keep = c_day < HISTORY_DAYS
    credited, full, frac, c_day = credited[keep], full[keep], frac[keep], c_day[keep]
    is_credit = np.concatenate([np.zeros(total, bool), np.ones(len(credited), bool)])
    a = np.concatenate([a, a[credited]])
    day = np.concatenate([day, c_day])
    product = np.concatenate([product, product[credited]])
    amount = np.round(np.concatenate([amount, -amount[credited] * frac]), 2)
    quantity = np.concatenate([quantity, np.where(full, -quantity[credited], 0.0)])
    cost = np.round(np.concatenate([cost, np.zeros(len(credited))]), 2)

    order = np.lexsort((is_credit, day, a))
    a, day, product = a[order], day[order], product[order]
    amount, quantity, cost, is_credit = amount[order], quantity[order], cost[order], \
        is_credit[order]
    serial = np.arange(len(a)) - np.searchsorted(a, a)
    number = acc.number[a]
    doc = np.array(["invoice", "credit_note"], dtype=object)[is_credit.astype(np.int64)]
    table = contract_table("transactions", {
        "line_id": ids2("INV-", number + 1, 7, serial + 1, 5),
        "account_id": ids("A", number + 1, 7),
        "date": dates(START_DAY + day),
        "product_id": product_ids.take(pa.array(product)),
        "amount": amount,
        "quantity": quantity,
        "cost": cost,
        "doc_type": pa.array(doc, type=pa.string()),
    })
    return Lines(a, day, amount, table)


@dataclass
class NextYear:
    """The following year per pair: amount (0 = no purchase) and first purchase day."""

    amount: np.ndarray
    first_day: np.ndarray  # days after the as-of date (1..365)
    acct_churn: np.ndarray  # per account: a live customer that stops buying altogether


def draw_next_year(acc: AccountBlock, hist: History, rng: np.random.Generator,
                   lapse_shift: float = 0.0) -> NextYear:
    """Continue the latent process one year past the as-of date.

    ``lapse_shift`` (a regime's) raises the log-odds that an account churns and that a
    live pair stops, as it does in the history.
    """
    n = len(acc.number)
    a, f, w = hist.acc, hist.fam, hist.wallet
    p = len(a)
    prop, fit = acc.propensity[a], acc.fit[a]
    u = rng.random((5, p))
    z = rng.standard_normal(p)
    u_acc = rng.random(n)
    day = 1 + (u[4] * 364).astype(np.int64)
    live = hist.live
    active_acct = _per_account_any(live, hist.group_start)
    acct_churn = active_acct & (u_acc < sigmoid(-3.0 + lapse_shift - 0.8 * acc.propensity
                                                 - 4.0 * hist.acct_growth))
    stays = ~acct_churn[a]

    keep = live & stays & (u[0] >= sigmoid(-2.7 + lapse_shift - 0.6 * prop - 0.3 * fit
                                           + 0.6 * _DECLINE[f]))
    cont = np.minimum(hist.share * w * np.exp(hist.growth + 0.15 * z - 0.011), 0.98 * w)
    back = hist.bought & ~live & stays & (u[1] < sigmoid(-3.0 + 0.8 * prop))
    adopt = ~hist.bought & stays & (u[2] < sigmoid(
        -5.2 + _NEXT_SHIFT[f] + 1.1 * prop + 0.5 * fit + 2.0 * active_acct[a]
        + 0.15 * acc.size_z[a]))
    new_amount = w * rng.beta(1.2, 4.0, p) * (365 - day) / 365
    amount = np.where(keep, cont, np.where(back | adopt, new_amount, 0.0))
    first_day = np.where(keep, 1 + (u[3] * 45).astype(np.int64), day)
    return NextYear(np.round(amount, 2), first_day, acct_churn)

