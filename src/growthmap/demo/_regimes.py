"""Regimes of the demo world: markets that break what the default world lets a model assume.

The default world is kind to the models: every account needs every family its industry
uses, the history is full of conversions and cross-sells, a vendor covers the biggest
accounts and there are thousands of them.  A number measured only there is a hope, so
the generator can also draw worlds that take one of those comforts away:

``static``
    a history without conversions: every customer bought its families from the first day
    and none lapses, so no account changes its mix before the as-of date (the next year
    still converts prospects and cross-sells).  Accounts carry an ``engagement`` column
    (0-10) that leans towards next year's buyers, and a family is needed only by some
    accounts of an industry (true wallet 0 elsewhere).
``no-vendor``
    the default world without ``external_potential`` figures, so the level of a wallet is
    an assumption rather than a calibration.
``tiny``
    about 100 customers (160 accounts), like a small SaaS sales file.
``retail``
    many small buyers like an online retailer's: tiny companies, most of them customers,
    many one-off buyers who lapse, frequent small invoice lines, wallets that size explains
    poorly, ``employees`` mostly missing, no vendor figures; families needed by some only.
``engagement``
    the default dynamics with an ``engagement`` column that carries next year's buying
    signal, and families needed by some accounts only.

Regimes combine with ``+`` (``static+no-vendor``).  Every regime draws from the same
seeded streams as the default world, plus one stream of its own (``Stream.REGIME``), so
``default`` stays bit for bit the world it always was.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from growthmap.errors import ConfigError

__all__ = ["DEFAULT", "REGIMES", "Regime", "need_logit", "resolve_regime"]


@dataclass(frozen=True)
class Regime:
    """The knobs a regime turns; the defaults are the default world's.

    ``need`` switches on families that only some accounts need (true wallet 0
    elsewhere), with a log-odds from :func:`need_logit`; ``static_history`` starts every
    bought family on the first day and lets none lapse; ``engagement`` adds an
    ``engagement`` column to the accounts; ``vendor`` keeps the external_potential
    figures.  The numeric knobs shift the default process (0 / 1 = unchanged).
    """

    name: str = "default"
    n_accounts: int = 5000  # the size when the caller does not name one
    need: bool = False
    static_history: bool = False
    engagement: bool = False
    vendor: bool = True
    size_shift: float = 0.0  # added to log employees
    customer_shift: float = 0.0  # added to the log-odds of being a customer
    lapse_shift: float = 0.0  # added to the log-odds of a pair / an account lapsing
    pair_noise: float = 0.3  # sd of the account x family wallet noise (log)
    employees_missing: float = 0.03  # share of accounts without employees
    lines_factor: float = 1.0  # invoice lines per pair x year, relative to default

    @property
    def is_default(self) -> bool:
        return self == replace(DEFAULT, name=self.name, n_accounts=self.n_accounts)


DEFAULT = Regime()

#: name -> the knobs it turns (a regime is the default world with these changed).
REGIMES: dict[str, dict[str, object]] = {
    "default": {},
    "static": {"static_history": True, "engagement": True, "need": True},
    "no-vendor": {"vendor": False},
    "tiny": {"n_accounts": 160},
    "retail": {"need": True, "vendor": False, "size_shift": -2.3, "customer_shift": 2.5,
               "lapse_shift": 1.8, "pair_noise": 0.7, "employees_missing": 0.7,
               "lines_factor": 3.0},
    "engagement": {"engagement": True, "need": True},
}


def resolve_regime(regime: str | Regime | None) -> Regime:
    """The :class:`Regime` named ``regime`` (``"static+no-vendor"`` combines two)."""
    if isinstance(regime, Regime):
        return regime
    name = (regime or "default").strip().lower()
    knobs: dict[str, object] = {}
    for part in name.split("+"):
        if part not in REGIMES:
            raise ConfigError(f"unknown demo regime {part!r}",
                              hint="choose from " + ", ".join(REGIMES)
                              + " (combine with +, e.g. static+no-vendor)")
        knobs.update(REGIMES[part])
    allowed = {f.name for f in fields(Regime)}
    assert set(knobs) <= allowed, set(knobs) - allowed
    return replace(DEFAULT, name=name, **knobs)  # type: ignore[arg-type]


#: Base log-odds that an account of an industry needs a family at all (industry x
#: family; seed-free, so "which industries need what" is the same in every world).
_NEED_BASE = np.random.default_rng(20240607).uniform(-1.2, 2.2, size=(10, 6))


def need_logit(industry: np.ndarray, size_z: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Log-odds that an account needs each family: industry, size and its own taste.

    Similar accounts (same industry, similar size) need similar families, so how many
    of an account's peers buy a family says how likely it needs it; the account's own
    ``z`` (accounts x families) keeps that from being certain.
    """
    return _NEED_BASE[industry] + 0.6 * size_z[:, None] + 1.0 * z
