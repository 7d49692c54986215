"""Column contracts of the input tables, declared once.

The loader validates against these declarations, the models ask them which columns
they may use, and ``docs/data-contract.md`` is rendered from them (a test keeps the
doc in step).  A column is *required* when a row without a usable value cannot be
loaded (it is quarantined); any other column is optional: a bad value there becomes
null, the row loads, and the data-quality table records why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BUYING_ROLES",
    "FAMILY_UNASSIGNED",
    "LIFECYCLE_STAGES",
    "REQUIRED_TABLES",
    "TABLES",
    "Column",
    "Table",
    "render_markdown",
    "table",
]

DType = Literal["string", "int", "float", "date", "bool"]

#: Family used for transactions whose product has no family (or no products table).
FAMILY_UNASSIGNED = "Unassigned"
LIFECYCLE_STAGES = ("introduction", "growth", "maturity", "decline")
BUYING_ROLES = ("decision_maker", "influencer", "user", "procurement")


@dataclass(frozen=True)
class Column:
    """One column of an input table.

    ``references`` is ``"table.column"``: a value absent from that table quarantines the
    row when the column is required, or is nulled (and recorded) when it is optional;
    the check is skipped when the referenced table has not been loaded.
    """

    name: str
    dtype: DType
    doc: str
    required: bool = False
    references: str | None = None
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Table:
    """One input table: its columns, its key and whether a run needs it."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = False
    used_for: str = ""
    extra_columns: bool = field(default=False)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, dtype: DType, doc: str, **kw: object) -> Column:
    return Column(name, dtype, doc, **kw)  # type: ignore[arg-type]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "accounts",
            "One row per company: customers and prospects alike.",
            (
                _c("account_id", "string", "Unique account identifier.", required=True),
                _c("name", "string", "Company name."),
                _c("industry", "string", "Industry (free text)."),
                _c("country", "string", "Country (name or ISO code)."),
                _c("region", "string", "Sales region."),
                _c("city", "string", "City."),
                _c("lat", "float", "Latitude in degrees.", min=-90, max=90),
                _c("lon", "float", "Longitude in degrees.", min=-180, max=180),
                _c("employees", "int", "Number of employees.", min=0),
                _c("annual_revenue", "float", "The account's own annual revenue.", min=0),
                _c("parent_id", "string", "Parent company's account_id (corporate family)."),
                _c("territory_id", "string", "Territory.", references="territories.territory_id"),
                _c("owner_rep_id", "string", "Owning rep.", references="reps.rep_id"),
                _c("domain", "string", "Web domain, used to link outside company lists."),
                _c("registration_number", "string", "Company register number."),
            ),
            key=("account_id",),
            required=True,
            used_for="everything: every figure is per account",
            extra_columns=True,
        ),
        Table(
            "transactions",
            "Invoice or booking lines. Negative amounts are credit notes and net against revenue.",
            (
                _c("line_id", "string", "Invoice line identifier (unique when given)."),
                _c("account_id", "string", "Buying account.", required=True,
                   references="accounts.account_id"),
                _c("date", "date", "Invoice date.", required=True),
                _c("product_id", "string", "Product sold.", required=True,
                   references="products.product_id"),
                _c("amount", "float", "Net amount in the base currency (after FX conversion).",
                   required=True),
                _c("quantity", "float", "Quantity."),
                _c("cost", "float", "Cost of goods, for gross margin.", min=0),
                _c("currency", "string", "Original currency code (converted with fx_rates)."),
                _c("doc_type", "string", "Document type: invoice or credit_note.",
                   allowed=("invoice", "credit_note")),
            ),
            key=("line_id",),
            required=True,
            used_for="current value, features, every model's training data",
        ),
        Table(
            "products",
            "Product catalogue.",
            (
                _c("product_id", "string", "Unique product identifier.", required=True),
                _c("name", "string", "Product name."),
                _c("family", "string", "Product family (the unit of potential and whitespace)."),
                _c("lifecycle_stage", "string", "Life-cycle stage of the product's family.",
                   allowed=LIFECYCLE_STAGES),
                _c("list_price", "float", "List price.", min=0),
            ),
            key=("product_id",),
            used_for="per-family value, potential and whitespace; life-cycle weights",
        ),
        Table(
            "reps",
            "Sales people.",
            (
                _c("rep_id", "string", "Unique rep identifier.", required=True),
                _c("name", "string", "Name."),
                _c("role", "string", "Coverage role (e.g. key_account_manager, field, inside)."),
                _c("territory_id", "string", "Home territory.",
                   references="territories.territory_id"),
                _c("manager_id", "string", "Manager's rep_id."),
                _c("capacity_hours", "float", "Productive selling hours per year.", min=0),
                _c("loaded_cost", "float", "Fully loaded annual cost.", min=0),
                _c("base_lat", "float", "Latitude of the rep's base.", min=-90, max=90),
                _c("base_lon", "float", "Longitude of the rep's base.", min=-180, max=180),
            ),
            key=("rep_id",),
            used_for="rollups by rep, rep books, quotas, capacity, territory alignment",
        ),
        Table(
            "territories",
            "Sales territories, optionally nested through parent_id.",
            (
                _c("territory_id", "string", "Unique territory identifier.", required=True),
                _c("name", "string", "Name."),
                _c("region", "string", "Region the territory belongs to."),
                _c("parent_id", "string", "Parent territory (hierarchy)."),
            ),
            key=("territory_id",),
            used_for="rollups by territory hierarchy, manager access",
        ),
        Table(
            "opportunities",
            "CRM opportunities (pipeline).",
            (
                _c("opportunity_id", "string", "Unique opportunity identifier.", required=True),
                _c("account_id", "string", "Account.", required=True,
                   references="accounts.account_id"),
                _c("product_id", "string", "Product.", references="products.product_id"),
                _c("family", "string", "Product family when no product is given."),
                _c("created", "date", "Creation date.", required=True),
                _c("closed", "date", "Close date (empty while open)."),
                _c("stage", "string", "Pipeline stage."),
                _c("amount", "float", "Amount.", min=0),
                _c("won", "bool", "Won (true), lost (false) or open (empty)."),
                _c("owner_rep_id", "string", "Owner.", references="reps.rep_id"),
            ),
            key=("opportunity_id",),
            used_for="propensity features, rep productivity",
        ),
        Table(
            "assessments",
            "Qualitative answers about accounts (e.g. buyer empowerment 1-5).",
            (
                _c("account_id", "string", "Account.", required=True,
                   references="accounts.account_id"),
                _c("criterion", "string", "Criterion name, as used in the config.", required=True),
                _c("score", "float", "Answer on the criterion's scale.", required=True),
                _c("date", "date", "When assessed."),
            ),
            key=("account_id", "criterion"),
            used_for="need / behaviour scores",
        ),
        Table(
            "external_potential",
            "Wallet figures from a data vendor.",
            (
                _c("account_id", "string", "Account.", required=True,
                   references="accounts.account_id"),
                _c("family", "string", "Product family.", required=True),
                _c("potential", "float", "Annual wallet.", required=True, min=0),
                _c("low", "float", "Lower bound.", min=0),
                _c("high", "float", "Upper bound.", min=0),
                _c("source", "string", "Vendor."),
            ),
            key=("account_id", "family"),
            used_for="the external potential method",
        ),
        Table(
            "signals",
            "Intent, web visits, engagement events.",
            (
                _c("account_id", "string", "Account.", required=True,
                   references="accounts.account_id"),
                _c("date", "date", "Event date.", required=True),
                _c("kind", "string", "Kind of signal (intent, web_visit, ...).", required=True),
                _c("value", "float", "Strength or count."),
            ),
            used_for="propensity features",
        ),
        Table(
            "contacts",
            "People at accounts with their buying roles.",
            (
                _c("contact_id", "string", "Unique contact identifier.", required=True),
                _c("account_id", "string", "Account.", required=True,
                   references="accounts.account_id"),
                _c("role", "string", "Buying role.", allowed=BUYING_ROLES),
                _c("title", "string", "Job title."),
                _c("last_engagement", "date", "Last engagement with us."),
            ),
            key=("contact_id",),
            used_for="buying-centre coverage score",
        ),
        Table(
            "competitors",
            "Competitors' estimated share of an account's wallet in a family.",
            (
                _c("account_id", "string", "Account.", required=True,
                   references="accounts.account_id"),
                _c("family", "string", "Product family.", required=True),
                _c("competitor", "string", "Competitor name.", required=True),
                _c("share", "float", "Share of the account's wallet in the family (0-1).",
                   required=True, min=0, max=1),
            ),
            key=("account_id", "family", "competitor"),
            used_for="splitting whitespace into open and competitor-held",
        ),
        Table(
            "fx_rates",
            "Exchange rates into the base currency.",
            (
                _c("currency", "string", "Currency code (ISO 4217).", required=True),
                _c("rate", "float", "Base-currency units per one unit of this currency.",
                   required=True, min=0),
            ),
            key=("currency",),
            used_for="converting transaction amounts at load time",
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if t.required)


def table(name: str) -> Table:
    """Return the contract of ``name`` or raise a ConfigError listing the known tables."""
    from growthmap.errors import ConfigError

    try:
        return TABLES[name]
    except KeyError:
        raise ConfigError(
            f"unknown table {name!r}",
            hint=f"use one of: {', '.join(TABLES)}",
        ) from None


def render_markdown() -> str:
    """Render the contract as the Markdown of ``docs/data-contract.md``."""
    out = [
        "# Data contract",
        "",
        "<!-- generated by growthmap.contract.inputs.render_markdown; do not edit by hand -->",
        "",
        "Required tables: " + ", ".join(f"`{t}`" for t in REQUIRED_TABLES)
        + ". Every other table is optional: a step that needs one says so and the run goes on.",
        "",
        "A *required* column must hold a valid value or the row is quarantined with the reason. "
        "A bad value in any other column becomes empty, the row still loads, and the "
        "data-quality table records the cell and why.",
        "",
    ]
    for t in TABLES.values():
        out += [f"## `{t.name}`" + (" (required)" if t.required else " (optional)"), "", t.doc, ""]
        if t.key:
            out.append(f"Key: {', '.join(f'`{k}`' for k in t.key)}. ")
        if t.used_for:
            out.append(f"Used for: {t.used_for}.")
        if t.extra_columns:
            out.append("Extra columns are kept as attributes the config may name.")
        out += ["", "| column | type | required | rule | meaning |", "|---|---|---|---|---|"]
        for c in t.columns:
            rule = []
            if c.references:
                rule.append(f"refers to `{c.references}`")
            if c.allowed:
                rule.append("one of " + ", ".join(c.allowed))
            if c.min is not None:
                rule.append(f">= {c.min:g}")
            if c.max is not None:
                rule.append(f"<= {c.max:g}")
            out.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if c.required else ''} | "
                f"{'; '.join(rule)} | {c.doc} |"
            )
        out.append("")
    return "\n".join(out)
