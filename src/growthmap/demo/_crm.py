"""CRM and market tables of the demo world, drawn from the same latents as the purchases.

Real pipeline, assessments and intent data are noisy reflections of what accounts are
about to do; here they are too, so a propensity model has honest signal to find:

* opportunities: won ones precede the adoptions of the history, lost ones mark failed
  attempts, and open ones at the as-of date cover ~60% of next year's new business and
  ~35% of its big expansions, plus false starts at ``sigmoid(-3.8 + 0.5 propensity)``;
* assessments (1-5) load on the latents: ``buyer_empowerment`` on propensity and fit,
  ``innovation_appetite`` on propensity, ``strategic_fit`` on fit, ``relationship_strength``
  on the current share of wallet;
* contacts: more at bigger accounts and customers, engaged more recently when propensity
  is high;
* signals: intent, web visits and event attendance in the last 180 days, two to three
  times as frequent at accounts about to buy something new;
* competitors: a named competitor (sometimes two) holding part of the wallet we do not;
* external_potential: a vendor's wallet estimate, true wallet x lognormal(-0.05, 0.35),
  for ~15% of accounts (bigger ones more often).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.contract.inputs import BUYING_ROLES
from growthmap.demo._catalog import COMPETITORS, FAMILIES, ROLE_WEIGHTS, TITLES
from growthmap.demo._transactions import HISTORY_DAYS, History, NextYear
from growthmap.demo._util import START_DAY, contract_table, dates, ids, ids2, sigmoid
from growthmap.demo._world import FAMILY_NAMES, PRODUCT_CUM, AccountBlock, Layout

__all__ = [
    "CRITERIA",
    "draw_assessments",
    "draw_competitors",
    "draw_contacts",
    "draw_external_potential",
    "draw_opportunities",
    "draw_signals",
]

AS_OF = HISTORY_DAYS - 1  # history day of the as-of date
#: Assessment criteria and how each loads on (propensity, fit, log share of wallet).
CRITERIA: dict[str, tuple[float, float, float]] = {
    "buyer_empowerment": (0.5, 0.4, 0.0),
    "innovation_appetite": (0.8, 0.1, 0.0),
    "strategic_fit": (0.1, 0.9, 0.0),
    "relationship_strength": (0.3, 0.0, 0.5),
}
_OPEN_STAGES = np.array(["qualification", "discovery", "proposal", "negotiation"], dtype=object)
_SIGNAL_KINDS = np.array(["intent", "web_visit", "event_attendance"], dtype=object)
_COMPETITOR_NAMES = np.array([c for f in FAMILIES for c in COMPETITORS[f[1]]], dtype=object)
_COMPETITOR_CUM = np.cumsum([0.4, 0.3, 0.2, 0.1])


def _owner_ids(layout: Layout, owner: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    return pc.take(layout.rep_ids, np.maximum(owner, 0)), owner < 0


def draw_opportunities(acc: AccountBlock, hist: History, nxt: NextYear, layout: Layout,
                       product_ids: pa.Array, rng: np.random.Generator) -> pa.Table:
    """Won, lost and open opportunities per account x family."""
    a, f, w = hist.acc, hist.fam, hist.wallet
    p = len(a)
    prop, fit = acc.propensity[a], acc.fit[a]
    u = rng.random((8, p))
    z = rng.standard_normal((2, p))
    live = hist.live

    won = hist.bought & (hist.start > 60) & (u[0] < 0.85)
    won_created = hist.start - 20 - (u[1] * 130).astype(np.int64)
    won_closed = np.maximum(hist.start - (u[2] * 15).astype(np.int64), won_created + 1)
    won_amount = hist.share * w * np.exp(0.3 * z[0] - 0.045)

    lost = ~hist.bought & (u[3] < sigmoid(-2.6 + 0.3 * prop + 0.3 * fit))
    lost_created = (u[4] * 1000).astype(np.int64)
    lost_closed = np.minimum(lost_created + 20 + (u[5] * 100).astype(np.int64), AS_OF)
    beta = rng.beta(1.2, 4.0, p)

    new_business = (nxt.amount > 0) & ~live
    expansion = live & (nxt.amount > 1.15 * hist.spend[:, 2])
    p_open = np.where(new_business, 0.6, np.where(expansion, 0.35,
                                                  sigmoid(-3.8 + 0.5 * prop)))
    is_open = u[6] < p_open
    open_created = AS_OF - 5 - (u[7] * 195).astype(np.int64)
    true_open = new_business | expansion
    open_amount = np.where(nxt.amount > 0, nxt.amount, w * beta) * np.exp(0.35 * z[1] - 0.06)
    stage_shift = np.where(true_open, 1.5, 0.0)
    stage = np.minimum((rng.random(p) * 3 + stage_shift).astype(np.int64), 3)

    kind = np.concatenate([np.full(won.sum(), 0), np.full(lost.sum(), 1),
                           np.full(is_open.sum(), 2)])
    pair = np.concatenate([np.flatnonzero(won), np.flatnonzero(lost), np.flatnonzero(is_open)])
    created = np.concatenate([won_created[won], lost_created[lost], open_created[is_open]])
    closed = np.concatenate([won_closed[won], lost_closed[lost], np.zeros(is_open.sum(), int)])
    amount = np.concatenate([won_amount[won], w[lost] * beta[lost], open_amount[is_open]])
    stage_s = np.concatenate([np.full(won.sum(), "closed_won", dtype=object),
                              np.full(lost.sum(), "closed_lost", dtype=object),
                              _OPEN_STAGES[stage[is_open]]])
    order = np.lexsort((created, a[pair]))
    kind, pair, created, closed, amount, stage_s = (
        x[order] for x in (kind, pair, created, closed, amount, stage_s))
    oa = a[pair]
    serial = np.arange(len(oa)) - np.searchsorted(oa, oa)
    number = acc.number[oa]
    u_prod = rng.random((2, len(oa)))
    product = f[pair] * 10 + np.searchsorted(PRODUCT_CUM, u_prod[0])
    owner, no_owner = _owner_ids(layout, acc.owner[oa])
    return contract_table("opportunities", {
        "opportunity_id": ids2("OPP-", number + 1, 7, serial + 1, 3),
        "account_id": ids("A", number + 1, 7),
        "product_id": (product_ids.take(pa.array(product)), u_prod[1] < 0.3),
        "family": pa.array(FAMILY_NAMES[f[pair]], type=pa.string()),
        "created": dates(START_DAY + created),
        "closed": dates(START_DAY + closed, mask=kind == 2),
        "stage": pa.array(stage_s, type=pa.string()),
        "amount": np.round(np.maximum(amount, 100.0), -1),
        "won": (kind == 0, kind == 2),
        "owner_rep_id": (owner, no_owner),
    })


def draw_assessments(acc: AccountBlock, hist: History, rng: np.random.Generator) -> pa.Table:
    """1-5 answers on CRITERIA for ~a third of customers and fewer prospects."""
    n = len(acc.number)
    live_acct = np.logical_or.reduceat(hist.live, hist.group_start)
    spend = np.add.reduceat(hist.spend[:, 2], hist.group_start)
    wallet = np.add.reduceat(hist.wallet, hist.group_start)
    log_share = np.log(np.maximum(spend / wallet, 0.01)) + 1.5  # ~0 at a 22% share
    assessed = rng.random(n) < sigmoid(-1.6 + 1.3 * live_acct + 0.5 * acc.size_z)
    k = len(CRITERIA)
    load = np.array(list(CRITERIA.values()))
    latent = (load[:, 0][None, :] * acc.propensity[:, None] + load[:, 1][None, :] * acc.fit[
        :, None] + load[:, 2][None, :] * log_share[:, None])
    score = np.clip(np.round(3 + latent + rng.normal(0, 0.7, (n, k))), 1, 5)
    answered = assessed[:, None] & (rng.random((n, k)) < 0.9)
    day = AS_OF - (rng.random(n) * 540).astype(np.int64)
    ai, ci = np.nonzero(answered)
    return contract_table("assessments", {
        "account_id": ids("A", acc.number[ai] + 1, 7),
        "criterion": pa.array(np.array(list(CRITERIA), dtype=object)[ci], type=pa.string()),
        "score": score[ai, ci],
        "date": dates(START_DAY + day[ai]),
    })


def draw_contacts(acc: AccountBlock, hist: History, rng: np.random.Generator) -> pa.Table:
    """People at each account, with a buying role, a title and the last engagement."""
    n = len(acc.number)
    live_acct = np.logical_or.reduceat(hist.live, hist.group_start).astype(float)
    lam = 0.5 + 0.45 * np.log10(acc.employees) + 1.2 * live_acct
    count = np.minimum(1 + rng.poisson(lam), 25)
    ca = np.repeat(np.arange(n), count)
    m = len(ca)
    serial = np.arange(m) - np.searchsorted(ca, ca)
    role = np.searchsorted(np.cumsum(ROLE_WEIGHTS) / ROLE_WEIGHTS.sum(), rng.random(m))
    role = np.where(serial == 0, 0, role)  # the first contact is a decision maker
    titles = np.array([t for ts in TITLES for t in ts], dtype=object)
    offset = np.cumsum([0] + [len(ts) for ts in TITLES])[:-1]
    n_titles = np.array([len(ts) for ts in TITLES])
    title = titles[offset[role] + (rng.random(m) * n_titles[role]).astype(np.int64)]
    prop = acc.propensity[ca]
    engaged = rng.random(m) < sigmoid(-1.0 + 2.0 * live_acct[ca] + 0.5 * prop)
    ago = np.minimum(rng.exponential(60 * np.exp(-0.4 * prop)), 1000).astype(np.int64)
    return contract_table("contacts", {
        "contact_id": ids2("C-", acc.number[ca] + 1, 7, serial + 1, 2),
        "account_id": ids("A", acc.number[ca] + 1, 7),
        "role": pa.array(np.array(BUYING_ROLES, dtype=object)[role], type=pa.string()),
        "title": pa.array(title, type=pa.string()),
        "last_engagement": dates(START_DAY + AS_OF - ago, mask=~engaged),
    })


def draw_competitors(acc: AccountBlock, hist: History, rng: np.random.Generator) -> pa.Table:
    """Known competitors per account x family and the share of wallet each holds."""
    a, f = hist.acc, hist.fam
    p = len(a)
    ours = np.where(hist.live, hist.spend[:, 2] / hist.wallet, 0.0)
    u = rng.random((5, p))
    known = u[0] < np.where(acc.is_customer[a], 0.45, 0.2)
    first = np.searchsorted(_COMPETITOR_CUM, u[1])
    share1 = (1 - ours) * rng.beta(2.5, 2.0, p)
    second = (first + 1 + (u[2] * 3).astype(np.int64)) % 4
    share2 = (1 - ours - share1) * rng.beta(2.0, 2.0, p)
    has2 = known & (u[3] < 0.25) & (share2 >= 0.01)
    sel = np.concatenate([np.flatnonzero(known), np.flatnonzero(has2)])
    comp = np.concatenate([first[known], second[has2]])
    share = np.concatenate([share1[known], share2[has2]])
    order = np.lexsort((comp, f[sel], a[sel]))
    sel, comp, share = sel[order], comp[order], share[order]
    return contract_table("competitors", {
        "account_id": ids("A", acc.number[a[sel]] + 1, 7),
        "family": pa.array(FAMILY_NAMES[f[sel]], type=pa.string()),
        "competitor": pa.array(_COMPETITOR_NAMES[f[sel] * 4 + comp], type=pa.string()),
        "share": np.clip(np.round(share, 2), 0.01, 1.0),
    })


def draw_signals(acc: AccountBlock, hist: History, nxt: NextYear,
                 rng: np.random.Generator) -> pa.Table:
    """Intent, web-visit and event signals of the last 180 days before the as-of date."""
    n = len(acc.number)
    starts = hist.group_start
    live = hist.live
    buys_new = np.logical_or.reduceat((nxt.amount > 0) & ~live, starts)
    grows = np.logical_or.reduceat(live & (nxt.amount > 1.1 * hist.spend[:, 2]), starts)
    live_acct = np.logical_or.reduceat(live, starts)
    prop = acc.propensity
    lam = np.column_stack([
        0.35 * np.exp(0.5 * prop) * (1 + 2.5 * buys_new),
        1.2 * np.exp(0.4 * prop) * (1 + 1.5 * (buys_new | grows)) * (1 + 0.5 * live_acct),
        0.1 * np.exp(0.3 * prop) * (1 + 1.0 * buys_new),
    ])
    count = rng.poisson(lam)  # (n, kinds)
    sa = np.repeat(np.repeat(np.arange(n), 3), count.ravel())
    kind = np.repeat(np.tile(np.arange(3), n), count.ravel())
    m = len(sa)
    skew = np.where(buys_new[sa], 1.6, 1.0)  # buyers' signals bunch up near the as-of date
    day = AS_OF - (180 * rng.random(m) ** skew).astype(np.int64)
    value = np.where(kind == 0, np.round(rng.uniform(40, 100, m)),
                     np.where(kind == 1, 1.0 + rng.poisson(3.0, m), 1.0))
    order = np.lexsort((kind, day, sa))
    sa, kind, day, value = sa[order], kind[order], day[order], value[order]
    return contract_table("signals", {
        "account_id": ids("A", acc.number[sa] + 1, 7),
        "date": dates(START_DAY + day),
        "kind": pa.array(_SIGNAL_KINDS[kind], type=pa.string()),
        "value": value,
    })


def draw_external_potential(acc: AccountBlock, hist: History,
                            rng: np.random.Generator) -> pa.Table:
    """A data vendor's wallet estimates for ~15% of accounts (bigger ones more often)."""
    n = len(acc.number)
    covered = rng.random(n) < sigmoid(-1.9 + 0.4 * acc.size_z)
    a, f = hist.acc, hist.fam
    p = len(a)
    est = hist.wallet * np.exp(rng.normal(-0.05, 0.35, p))
    sel = np.flatnonzero(covered[a] & (rng.random(p) < 0.9) & (est >= 100))
    potential = np.round(est[sel], -2)
    return contract_table("external_potential", {
        "account_id": ids("A", acc.number[a[sel]] + 1, 7),
        "family": pa.array(FAMILY_NAMES[f[sel]], type=pa.string()),
        "potential": potential,
        "low": np.round(potential * 0.65, -2),
        "high": np.round(potential * 1.5, -2),
        "source": pa.array(np.full(len(sel), "MarketScope", dtype=object), type=pa.string()),
    })
