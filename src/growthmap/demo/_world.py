"""The demo world's layout (territories, reps, products) and its accounts with true wallets.

The layout depends on the world's size (about 20 territories at 5,000 accounts, growing
with the square root of the size; one selling rep per 250 accounts), never on a block.
Accounts are drawn per block; their territory follows from where they are, their owner
from their territory and size, and their true wallet from industry and size:

    wallet[a, f] = INTENSITY[industry(a), f] * employees(a) ** beta_f
                   * exp(0.2 z_a + 0.3 z_af - 0.065)        z ~ N(0, 1)

so firmographics explain most of it (as in real B2B markets) and a moderate lognormal
noise the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.demo._catalog import (
    CITIES,
    COUNTRIES,
    FAMILIES,
    FIRST_NAMES,
    INDUSTRIES,
    INTENSITY,
    LAST_NAMES,
    NAME_CORES,
    NAME_PREFIXES,
    NAME_WORDS,
    PRODUCT_NAMES,
    REGIONS,
)
from growthmap.demo._regimes import DEFAULT, Regime, need_logit
from growthmap.demo._util import (
    BLOCK,
    Stream,
    block_rng,
    contract_table,
    ids,
    layout_rng,
    sigmoid,
)

__all__ = ["AccountBlock", "Layout", "draw_accounts", "make_layout", "make_products"]

N_FAMILIES = len(FAMILIES)
FAMILY_NAMES = np.array([f[0] for f in FAMILIES], dtype=object)
BETA = np.array([f[3] for f in FAMILIES])
_IND_SHARE = np.array([i[1] for i in INDUSTRIES])
_IND_SHARE = _IND_SHARE / _IND_SHARE.sum()
_IND_MEDIAN = np.array([i[2] for i in INDUSTRIES], dtype=float)
_IND_RPE = np.array([i[3] for i in INDUSTRIES], dtype=float)
_IND_FIT = np.array([i[4] for i in INDUSTRIES])
_CITY_W = np.array([c[4] for c in CITIES])
_CITY_LAT = np.array([c[2] for c in CITIES])
_CITY_LON = np.array([c[3] for c in CITIES])
_CITY_COUNTRY = np.array([c[1] for c in CITIES])
_CITY_REGION = np.array([COUNTRIES[c[1]][2] for c in CITIES])

ROLE_KAM, ROLE_FIELD, ROLE_INSIDE = 0, 1, 2
_ROLE_NAMES = ("key_account_manager", "field", "inside")
# capacity hours, loaded cost per role (sellers), then sales_manager, regional_manager
_ROLE_HOURS = (1_300.0, 1_400.0, 1_600.0, 700.0, 500.0)
_ROLE_COST = (210_000.0, 165_000.0, 95_000.0, 200_000.0, 260_000.0)


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method)."""
    if total <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    q = weights / weights.sum() * total
    out = np.floor(q).astype(np.int64)
    rest = total - int(out.sum())
    if rest:
        out[np.argsort(-(q - out), kind="stable")[:rest]] += 1
    return out


def _anchors(cities: np.ndarray, sect: np.ndarray) -> np.ndarray:
    """The city each of ``cities`` is served from: itself when it has territories,
    else the nearest city that has."""
    anchors = cities[sect[cities] > 0]
    out = cities.copy()
    for i, c in enumerate(cities):
        if sect[c] == 0:  # small city: joins the nearest anchor city
            dx = (_CITY_LON[anchors] - _CITY_LON[c]) * math.cos(math.radians(_CITY_LAT[c]))
            out[i] = anchors[np.argmin(dx**2 + (_CITY_LAT[anchors] - _CITY_LAT[c]) ** 2)]
    return out


#: A city's territories may be folded into a neighbour's only within this distance (km):
#: a field rep's day trip, never a flight.
FOLD_KM = 400.0


def _km(a: int, b: np.ndarray) -> np.ndarray:
    """Approximate km from city ``a`` to cities ``b`` (flat earth; cities are close)."""
    dx = (_CITY_LON[b] - _CITY_LON[a]) * math.cos(math.radians(_CITY_LAT[a]))
    return 111.2 * np.sqrt(dx**2 + (_CITY_LAT[b] - _CITY_LAT[a]) ** 2)


def _balanced_seats(cities: np.ndarray, k: int) -> np.ndarray:
    """Territories per city of one region, as a sales-operations team would cut them.

    Seats go to cities by their own share of companies, then one seat at a time moves
    between cities that have seats while that evens out the companies per territory (each city's own
    plus those of the small cities it serves; compared from the busiest territory
    down).  A city may lose its last seat only when it and the cities it serves hold
    less than half a territory's average share, and every city it served lies within
    ``FOLD_KM`` of another city with territories (no city ends up farther from its
    territories' city than that, or than it already was): two seats in two mid-size Texan cities
    while a metropolis with its suburbs has one is not a design anyone signs (it puts
    field reps where few accounts are), and neither is a capital served by plane.
    """
    sect = np.zeros(len(CITIES), dtype=np.int64)
    sect[cities] = _largest_remainder(_CITY_W[cities], k)

    def loads(seats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Companies per territory (busiest first) and each city's km to its anchor."""
        anchor = _anchors(cities, seats)
        km = np.array([_km(int(a), np.array([c]))[0] for c, a in zip(cities, anchor,
                                                                      strict=True)])
        catch = np.bincount(anchor, weights=_CITY_W[cities], minlength=len(CITIES))
        held = cities[seats[cities] > 0]
        return np.sort(catch[held] / seats[held])[::-1], km

    def better(a: np.ndarray, b: np.ndarray) -> bool:  # a evens out more than b
        n = max(len(a), len(b))
        a, b = np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))
        diff = np.flatnonzero(np.abs(a - b) > 1e-9)
        return bool(diff.size) and a[diff[0]] < b[diff[0]]

    now, km = loads(sect)
    while True:
        best = None
        held = cities[sect[cities] > 0]
        catch = np.bincount(_anchors(cities, sect), weights=_CITY_W[cities],
                            minlength=len(CITIES))
        small = 0.5 * _CITY_W[cities].sum() / k  # a city this small needs no rep of its own
        for lo in held[np.argsort(catch[held], kind="stable")]:  # ties: the smaller city folds
            if sect[lo] == 1 and catch[lo] >= small:
                continue
            for hi in held:  # a city without territories never gets one: reps stay in cities
                if hi == lo:
                    continue
                trial = sect.copy()
                trial[lo] -= 1
                trial[hi] += 1
                got, got_km = loads(trial)
                if ((got_km > np.maximum(km, FOLD_KM)).any()
                        or not better(got, now if best is None else best[1])):
                    continue
                best = (trial, got, got_km)
        if best is None:
            break
        sect, now, km = best
    return sect[cities]


@dataclass(frozen=True)
class Layout:
    """The size-dependent frame of a world: territory hierarchy, reps and lookup arrays.

    ``city_first``/``city_nsect`` map a city to its leaf territories (a big city is cut
    into sectors by bearing); ``pool_*`` list the sellers of each owner pool (a leaf's
    field reps, then each region's key account managers, then its inside reps), so
    owners are drawn with array lookups rather than a loop per account.
    """

    n_accounts: int
    territories: pa.Table
    reps: pa.Table
    leaf_ids: pa.Array
    city_first: np.ndarray
    city_nsect: np.ndarray
    leaf_region: np.ndarray
    pool_start: np.ndarray
    pool_count: np.ndarray
    pool_reps: np.ndarray
    rep_ids: pa.Array


def n_territories(n_accounts: int) -> int:
    """Leaf territories for a world of ``n_accounts``: ~20 at 5,000, growing as sqrt(n)."""
    return max(2 * len(REGIONS), round(20 * math.sqrt(max(n_accounts, 1) / 5000)))


def make_layout(n_accounts: int, seed: int) -> Layout:
    """Territories (regions -> leaves), sellers per leaf and the managers above them."""
    rng = layout_rng(seed)
    k = n_territories(n_accounts)
    n_regions = len(REGIONS)
    region_w = np.bincount(_CITY_REGION, weights=_CITY_W, minlength=n_regions)
    k_region = 2 + _largest_remainder(region_w, k - 2 * n_regions)
    sect = np.zeros(len(CITIES), dtype=np.int64)
    anchor = np.arange(len(CITIES))
    for r in range(n_regions):
        cities = np.flatnonzero(r == _CITY_REGION)
        sect[cities] = _balanced_seats(cities, int(k_region[r]))
        anchor[cities] = _anchors(cities, sect)

    width = max(3, len(str(k)))
    leaf_city: list[int] = []
    leaf_sector: list[int] = []
    city_first = np.zeros(len(CITIES), dtype=np.int64)
    for r in range(n_regions):
        for c in np.flatnonzero((r == _CITY_REGION) & (sect > 0)):
            city_first[c] = len(leaf_city)
            leaf_city += [int(c)] * int(sect[c])
            leaf_sector += list(range(int(sect[c])))
    city_first = city_first[anchor]
    city_nsect = sect[anchor]
    leaf_city_a = np.array(leaf_city)
    leaf_sector_a = np.array(leaf_sector)
    n_leaf = len(leaf_city)
    leaf_region = _CITY_REGION[leaf_city_a]
    region_ids = [f"RG-{r + 1:02d}" for r in range(n_regions)]
    leaf_ids = [f"T-{i + 1:0{width}d}" for i in range(n_leaf)]
    leaf_names = [
        CITIES[c][0] if sect[c] == 1 else f"{CITIES[c][0]} {s + 1}"
        for c, s in zip(leaf_city, leaf_sector, strict=True)
    ]
    territories = contract_table("territories", {
        "territory_id": pa.array(region_ids + leaf_ids),
        "name": pa.array(list(REGIONS) + leaf_names),
        "region": pa.array(list(REGIONS) + [REGIONS[r] for r in leaf_region]),
        "parent_id": pa.array([None] * n_regions + [region_ids[r] for r in leaf_region],
                              type=pa.string()),
    })

    # sellers, ~1 per 250 accounts: field reps (at least one per leaf, spread by expected
    # accounts), plus key account managers (~10%) and inside reps (~30%) who cover a
    # whole region from its busiest leaf, as overlay teams do.
    leaf_share = np.bincount(anchor, weights=_CITY_W, minlength=len(CITIES))[leaf_city_a]
    leaf_share = leaf_share / sect[leaf_city_a]
    budget = n_accounts / 250
    n_field = max(n_leaf, round(0.6 * budget))
    field_per_leaf = 1 + _largest_remainder(leaf_share, n_field - n_leaf)
    kam_per_region = np.maximum(1, _largest_remainder(region_w, round(0.1 * budget)))
    inside_per_region = np.maximum(1, _largest_remainder(region_w, round(0.3 * budget)))
    home_leaf = np.array([np.flatnonzero(leaf_region == r)[np.argmax(
        leaf_share[leaf_region == r])] for r in range(n_regions)])
    seller_leaf = np.concatenate([np.repeat(np.arange(n_leaf), field_per_leaf),
                                  np.repeat(home_leaf, kam_per_region),
                                  np.repeat(home_leaf, inside_per_region)])
    seller_role = np.concatenate([np.full(n_field, ROLE_FIELD),
                                  np.full(kam_per_region.sum(), ROLE_KAM),
                                  np.full(inside_per_region.sum(), ROLE_INSIDE)])
    # owner pools: one per leaf (field), one per region for each overlay role
    seller_pool = np.concatenate([
        np.repeat(np.arange(n_leaf), field_per_leaf),
        n_leaf + np.repeat(np.arange(n_regions), kam_per_region),
        n_leaf + n_regions + np.repeat(np.arange(n_regions), inside_per_region)])
    n_sellers = len(seller_leaf)

    # managers: one regional manager per region; above 10 sellers, teams of 8 with a
    # sales manager each.  Rep numbers: regional managers, sales managers, sellers.
    role_name: list[str] = ["regional_manager"] * n_regions
    territory: list[str] = list(region_ids)
    manager: list[str | None] = [None] * n_regions
    base_city: list[int] = [int(np.flatnonzero(r == _CITY_REGION)[0]) for r in range(n_regions)]
    hours_cls: list[int] = [4] * n_regions
    seller_manager = np.empty(n_sellers, dtype=object)
    n_reps_before_sellers = n_regions
    teams: list[tuple[int, np.ndarray]] = []
    for r in range(n_regions):
        members = np.flatnonzero(leaf_region[seller_leaf] == r)
        if len(members) <= 10:
            seller_manager[members] = r
            continue
        for t in range(math.ceil(len(members) / 8)):
            teams.append((r, members[t * 8:(t + 1) * 8]))
    for j, (r, members) in enumerate(teams):
        rep_no = n_regions + j
        role_name.append("sales_manager")
        territory.append(region_ids[r])
        manager.append(f"REP-{r + 1:05d}")
        base_city.append(int(leaf_city_a[seller_leaf[members[0]]]))
        hours_cls.append(3)
        seller_manager[members] = rep_no
    n_reps_before_sellers += len(teams)
    mgr_ids = np.array([f"REP-{int(i) + 1:05d}" for i in seller_manager], dtype=object)
    n_reps = n_reps_before_sellers + n_sellers
    rep_ids = ids("REP-", np.arange(1, n_reps + 1), 5)
    role_all = role_name + [_ROLE_NAMES[r] for r in seller_role]
    cls_all = np.array(hours_cls + list(seller_role))
    city_all = np.array(base_city + list(leaf_city_a[seller_leaf]))
    sector_angle = np.zeros(n_reps)
    sector_angle[n_reps_before_sellers:] = (
        (leaf_sector_a[seller_leaf] + 0.5) / sect[leaf_city_a[seller_leaf]] * 2 * np.pi)
    offset = np.where(np.arange(n_reps) >= n_reps_before_sellers, 0.1, 0.0)
    offset = offset * (sect[city_all] > 1)
    hours = np.round(np.array(_ROLE_HOURS)[cls_all] + rng.normal(0, 40, n_reps))
    cost = np.round(np.array(_ROLE_COST)[cls_all] * np.exp(rng.normal(0, 0.08, n_reps)), -2)
    names = pc.binary_join_element_wise(
        pc.take(pa.array(FIRST_NAMES), rng.integers(0, len(FIRST_NAMES), n_reps)),
        pc.take(pa.array(LAST_NAMES), rng.integers(0, len(LAST_NAMES), n_reps)), " ")
    reps = contract_table("reps", {
        "rep_id": rep_ids,
        "name": names,
        "role": pa.array(role_all),
        "territory_id": pa.array(territory + [leaf_ids[i] for i in seller_leaf]),
        "manager_id": pa.array(manager + list(mgr_ids), type=pa.string()),
        "capacity_hours": hours,
        "loaded_cost": cost,
        "base_lat": np.round(_CITY_LAT[city_all] + offset * np.sin(sector_angle), 4),
        "base_lon": np.round(_CITY_LON[city_all] + offset * np.cos(sector_angle), 4),
    })

    pool_count = np.bincount(seller_pool, minlength=n_leaf + 2 * n_regions)
    pool_start = np.concatenate([[0], np.cumsum(pool_count)[:-1]])
    pool_reps = n_reps_before_sellers + np.arange(n_sellers)  # sellers are in pool order
    return Layout(
        n_accounts=n_accounts,
        territories=territories,
        reps=reps,
        leaf_ids=pa.array(leaf_ids),
        city_first=city_first,
        city_nsect=city_nsect,
        leaf_region=leaf_region,
        pool_start=pool_start,
        pool_count=pool_count,
        pool_reps=pool_reps,
        rep_ids=rep_ids,
    )


def make_products() -> pa.Table:
    """The catalogue: ten products per family with list prices (fixed, seed-free)."""
    rng = np.random.default_rng(20230101)
    rows: dict[str, list] = {k: [] for k in
                             ("product_id", "name", "family", "lifecycle_stage", "list_price")}
    for name, code, stage, _beta, _margin, price, _b, _n in FAMILIES:
        for i, pname in enumerate(PRODUCT_NAMES[code]):
            rows["product_id"].append(f"P-{code}-{i + 1:02d}")
            rows["name"].append(pname)
            rows["family"].append(name)
            rows["lifecycle_stage"].append(stage)
            rows["list_price"].append(round(float(price * np.exp(rng.normal(0, 0.6))), 2))
    return contract_table("products", rows)


#: Popularity of a family's ten products (Zipf-like), cumulated for searchsorted.
PRODUCT_CUM = np.cumsum(1.0 / np.arange(1, 11) ** 0.9)
PRODUCT_CUM = PRODUCT_CUM / PRODUCT_CUM[-1]


@dataclass
class AccountBlock:
    """One block of accounts: the loaded table plus the latent truth behind it."""

    number: np.ndarray  # global account number (0-based)
    industry: np.ndarray  # true industry code
    employees: np.ndarray  # true employees
    size_z: np.ndarray  # standardised log employees
    fit: np.ndarray  # latent ICP fit
    propensity: np.ndarray  # latent propensity to buy and grow
    is_customer: np.ndarray  # bought at some time in the history
    wallet: np.ndarray  # (accounts, families) true yearly wallet
    owner: np.ndarray  # rep index or -1
    table: pa.Table  # the accounts rows as loaded

    @property
    def account_ids(self) -> pa.Array:
        return ids("A", self.number + 1, 7)


def draw_accounts(layout: Layout, seed: int, block: int,
                  regime: Regime = DEFAULT) -> AccountBlock:
    """Draw block ``block`` of accounts: firmographics, latents, wallet, owner.

    ``regime`` shifts size and customer share, widens the wallet noise, drops families
    an account does not need and adds an engagement column (see :mod:`._regimes`).
    """
    rng = block_rng(seed, block, Stream.ACCOUNTS)
    n = BLOCK
    number = block * BLOCK + np.arange(n, dtype=np.int64)
    ind = rng.choice(len(INDUSTRIES), size=n, p=_IND_SHARE)
    ln_emp = np.log(_IND_MEDIAN[ind]) + regime.size_shift + 1.3 * rng.standard_normal(n)
    tail = np.where(rng.random(n) < 0.01, 1.0 + 4.0 * rng.pareto(1.1, n), 1.0)
    employees = np.clip(np.round(np.exp(ln_emp) * tail), 1, 300_000).astype(np.int64)
    city = rng.choice(len(CITIES), size=n, p=_CITY_W / _CITY_W.sum())
    bearing = rng.uniform(0, 2 * np.pi, n)
    radius = np.abs(rng.normal(0, 0.12, n))
    lat = _CITY_LAT[city] + radius * np.sin(bearing)
    lon = _CITY_LON[city] + radius * np.cos(bearing) / np.cos(np.radians(_CITY_LAT[city]))
    revenue = employees * _IND_RPE[ind] * np.exp(rng.normal(-0.1, 0.45, n))
    z_fit, z_prop, z_wallet = rng.standard_normal((3, n))
    z_pair = rng.standard_normal((n, N_FAMILIES))
    u_cust, u_owner, u_unowned, u_sub, u_parent = rng.random((5, n))
    u_missing = rng.random((n, 5))
    stem_p = rng.integers(0, len(NAME_PREFIXES), n)
    stem_c = rng.integers(0, len(NAME_CORES), n)
    word = rng.integers(0, 5, n)

    size_z = (np.log(employees) - 4.0) / 1.4
    fit = 0.6 * _IND_FIT[ind] + 0.3 * size_z + 0.8 * z_fit
    propensity = 0.45 * fit + 0.85 * z_prop
    is_customer = u_cust < sigmoid(0.35 + regime.customer_shift + 0.9 * fit + 0.3 * size_z)
    noise = (0.3 * z_pair - 0.065 if regime.pair_noise == 0.3  # the default, bit for bit
             else regime.pair_noise * z_pair - (0.04 + regime.pair_noise**2) / 2)
    wallet = np.round(
        INTENSITY[ind] * employees[:, None].astype(float) ** BETA[None, :]
        * np.exp(0.2 * z_wallet[:, None] + noise)
    )
    extra: dict[str, np.ndarray] = {}
    if regime.need or regime.engagement:
        rng_r = block_rng(seed, block, Stream.REGIME)
        z_need = rng_r.standard_normal((n, N_FAMILIES))
        u_need = rng_r.random((n, N_FAMILIES))
        z_eng = rng_r.standard_normal(n)
        if regime.need:
            logit = np.where(wallet > 0, need_logit(ind, size_z, z_need), -np.inf)
            need = u_need < sigmoid(logit)
            need[np.arange(n), np.argmax(logit, axis=1)] = True  # at least one family
            wallet = np.where(need, wallet, 0.0)
        if regime.engagement:  # a CRM engagement score (0-10) leaning on propensity
            extra["engagement"] = np.clip(np.round(5.5 + 1.2 * propensity + 1.3 * z_eng, 1),
                                          0.0, 10.0)

    # territory from place (sector of a big city by bearing); owner by size-matched role
    leaf = layout.city_first[city] + np.minimum(
        (bearing / (2 * np.pi) * layout.city_nsect[city]).astype(np.int64),
        layout.city_nsect[city] - 1)
    n_leaf, region = len(layout.leaf_ids), layout.leaf_region[leaf]
    pool = np.where(employees >= 1000, n_leaf + region,  # key account managers
                    np.where(employees < 25, n_leaf + len(REGIONS) + region, leaf))  # inside
    owner = layout.pool_reps[layout.pool_start[pool]
                             + (u_owner * layout.pool_count[pool]).astype(np.int64)]
    owner = np.where(~is_customer & (u_unowned < 0.04), -1, owner)

    # corporate families: ~3% are subsidiaries of one of the block's 25 largest accounts
    big = np.argsort(-employees, kind="stable")[:25]
    is_sub = (u_sub < 0.03) & ~np.isin(np.arange(n), big)
    parent = big[(u_parent * len(big)).astype(np.int64)]
    stem_p = np.where(is_sub, stem_p[parent], stem_p)
    stem_c = np.where(is_sub, stem_c[parent], stem_c)

    account_id = ids("A", number + 1, 7)
    country = _CITY_COUNTRY[city]
    # missing firmographics: employees, industry, revenue, lat/lon, city
    miss = u_missing < np.array([regime.employees_missing, 0.02, 0.06, 0.01, 0.01])
    table = contract_table("accounts", {
        "account_id": account_id,
        **_names(number, ind, city, is_sub, stem_p, stem_c, word),
        "industry": (_INDUSTRY_NAMES[ind], miss[:, 1]),
        "country": pa.array(_COUNTRY_NAMES[country]),
        "region": pa.array(np.array(REGIONS, dtype=object)[_CITY_REGION[city]]),
        "city": (_CITY_NAMES[city], miss[:, 4]),
        "lat": (np.round(lat, 5), miss[:, 3]),
        "lon": (np.round(lon, 5), miss[:, 3]),
        "employees": (employees, miss[:, 0]),
        "annual_revenue": (np.round(revenue, -3), miss[:, 2]),
        "parent_id": pc.if_else(pa.array(is_sub), pc.take(account_id, parent),
                                pa.nulls(n, pa.string())),
        "territory_id": pc.take(layout.leaf_ids, leaf),
        "owner_rep_id": (pc.take(layout.rep_ids, np.maximum(owner, 0)), owner < 0),
    })
    for name, values in extra.items():  # attributes beyond the contract, as a CRM has
        table = table.append_column(name, pa.array(values, type=pa.float64()))
    return AccountBlock(number, ind, employees, size_z, fit, propensity, is_customer,
                        wallet, owner, table)


_INDUSTRY_NAMES = np.array([i[0] for i in INDUSTRIES], dtype=object)
_COUNTRY_NAMES = np.array([c[0] for c in COUNTRIES], dtype=object)
_CITY_NAMES = np.array([c[0] for c in CITIES], dtype=object)
_NAME_WORDS = np.array([w for ws in NAME_WORDS for w in ws], dtype=object)


def _names(number: np.ndarray, ind: np.ndarray, city: np.ndarray, is_sub: np.ndarray,
           stem_p: np.ndarray, stem_c: np.ndarray, word: np.ndarray) -> dict[str, pa.Array]:
    """Company name, web domain and register number (subsidiaries reuse the parent's stem)."""
    country = _CITY_COUNTRY[city]
    stem = pc.binary_join_element_wise(pc.take(pa.array(NAME_PREFIXES), stem_p),
                                       pc.take(pa.array(NAME_CORES), stem_c), "")
    word_s = pa.array(_NAME_WORDS[ind * 5 + word])
    legal = pa.array(np.array([c[3] for c in COUNTRIES], dtype=object)[country])
    tld = pa.array(np.array([c[4] for c in COUNTRIES], dtype=object)[country])
    name = pc.if_else(pa.array(is_sub),
                      pc.binary_join_element_wise(stem, pa.array(_CITY_NAMES[city]), legal, " "),
                      pc.binary_join_element_wise(stem, word_s, legal, " "))
    # the account number keeps domains unique, as real ones nearly always are
    domain = pc.binary_join_element_wise(
        pc.binary_join_element_wise(pc.utf8_lower(stem), pc.utf8_lower(word_s),
                                    pa.array(number + 1).cast(pa.string()), ""),
        tld, ".")
    reg_no = pc.binary_join_element_wise(
        pa.array(np.array([c[1] for c in COUNTRIES], dtype=object)[country]),
        ids("", (number * 7919 + 1009) % 100_000_000, 8), "-")
    return {"name": name, "domain": domain, "registration_number": reg_no}
