"""Column contracts of the stage outputs, declared once.

Beside the input contract (:mod:`growthmap.contract.inputs`): every output a stage
publishes is declared here with the stage that provides it, its key and its columns
with their kinds.  The runner checks each published output against its declaration
(:func:`check_output`), so a stage cannot silently drop, rename or retype a column the
read layer and the faces rely on; ``docs/outputs.md`` is rendered from it (a test keeps
the doc in step).

Kinds are deliberately coarse (``str``, ``int``, ``float``, ``bool``, ``date``,
``timestamp``): DuckDB,
pandas and Spark spell the same column as ``string`` or ``large_string``, ``int32`` or
``int64``.  An integer column is a valid ``float``; an all-null column fits any kind.
Columns a run adds from the user's data or config (account attributes, one score per
configured criterion, one count per tier in a rollup) are allowed by ``extra``.  A stage
of your own declares its outputs with :func:`declare_output`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["OUTPUTS", "Output", "OutputColumn", "check_output", "declare_output", "output",
           "render_markdown"]


@dataclass(frozen=True)
class OutputColumn:
    """One column of a stage output: its name, kind and whether every run has it."""

    name: str
    kind: str
    required: bool = True


@dataclass(frozen=True)
class Output:
    """One stage output: who provides it, what a row is, and its columns.

    ``extra`` says which further columns may appear: ``None`` (no others), ``"*"``
    (any: the account's own attributes), or name prefixes (``("c_",)``).
    """

    name: str
    stage: str
    doc: str
    key: tuple[str, ...]
    columns: tuple[OutputColumn, ...]
    extra: tuple[str, ...] | str | None = None
    extra_doc: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> OutputColumn:
        return next(c for c in self.columns if c.name == name)


def _cols(spec: str) -> tuple[OutputColumn, ...]:
    """``"account_id str, growth float?"``: a trailing ``?`` marks a column a run may omit."""
    out = []
    for item in spec.split(","):
        name, kind = item.split()
        out.append(OutputColumn(name, kind.rstrip("?"), required=not kind.endswith("?")))
    return tuple(out)


_ACCOUNT = "account_id str"
_FIGURES = "current float, potential float, whitespace float"

OUTPUTS: dict[str, Output] = {o.name: o for o in (
    # -- value ----------------------------------------------------------------------------
    Output("account_family_value", "value", "Current value per account and product family.",
           ("account_id", "family"), _cols(
               f"{_ACCOUNT}, family str, revenue_t12m float, revenue_prior float, "
               "products_t12m int, lines_t12m int, first_purchase date, last_purchase date, "
               "gross_margin_t12m float, growth float")),
    Output("account_value", "value",
           "One row per account: its attributes, current value, status and value tier.",
           ("account_id",), _cols(
               f"{_ACCOUNT}, revenue_t12m float, revenue_prior float, gross_margin_t12m float, "
               "families_t12m int, families_ever int, products_t12m int, lines_t12m int, "
               "first_purchase date, last_purchase date, value float, growth float, "
               "is_customer bool, status str, ever_bought bool, recency_days int, "
               "tenure_days int, value_rank int, value_share float, cum_share float, "
               "value_tier str, group_account_id str"),
           extra="*", extra_doc="the columns of the accounts table (name, industry, "
                                "territory_id, ...) and, when tiers are set per group, the "
                                "group's figures"),
    Output("concentration", "value", "Concentration of value by dimension and group.",
           ("dimension", "group"), _cols(
               "dimension str, group str, n_accounts int, n_customers int, value float, "
               "arpa float, share_of_total float, gini float, top20_share float, hhi float")),
    Output("pareto", "value", "The Pareto curve: share of value by share of customers.",
           ("point",), _cols("point int, share_of_customers float, cum_share_of_value float")),
    # -- potential ------------------------------------------------------------------------
    Output("potential", "potential",
           "Wallet, interval, whitespace and share of wallet per account and family.",
           ("account_id", "family"), _cols(
               f"{_ACCOUNT}, family str, current float, potential float, low float, "
               "high float, whitespace float, whitespace_open float, "
               "whitespace_competitor float, share_of_wallet float, method str, "
               "peer_group str, low_confidence bool, drivers str, potential_model float, "
               "adjusted_by str, adjusted_at timestamp")),
    Output("whitespace_competitor", "potential",
           "Whitespace held by each competitor, per account and family.",
           ("account_id", "family", "competitor"),
           _cols(f"{_ACCOUNT}, family str, competitor str, held float")),
    Output("potential_account", "potential",
           "Per-account totals with value and potential bands, matrix cell and ROAD.",
           ("account_id",), _cols(
               f"{_ACCOUNT}, current float, potential float, low float, high float, "
               "whitespace float, "
               "share_of_wallet float, value_band str, potential_band str, matrix_cell str, "
               "road str, low_confidence bool, potential_model float, adjusted_by str, "
               "adjusted_at timestamp")),
    Output("matrix", "potential", "The value x potential matrix: accounts and money per cell.",
           ("value_band", "potential_band"), _cols(
               f"value_band str, potential_band str, accounts int, customers int, {_FIGURES}")),
    # -- models ---------------------------------------------------------------------------
    Output("buying_centre", "models", "Buying-centre coverage per account.",
           ("account_id",), _cols(
               f"{_ACCOUNT}, bc_contacts int, bc_roles_covered int, bc_engaged int, "
               "bc_decision_maker float, bc_influencer float, bc_user float, "
               "bc_procurement float, buying_centre_coverage float, buying_centre_status str")),
    Output("propensity", "models", "Propensity to buy in the horizon, with its drivers.",
           ("account_id",), _cols(f"{_ACCOUNT}, ptb float, ptb_decile int, drivers str")),
    Output("propensity_family", "models",
           "Propensity to buy each family (new_family: the account does not buy it yet).",
           ("account_id", "family"),
           _cols(f"{_ACCOUNT}, family str, ptb float, new_family bool")),
    Output("risk", "models", "Risk of decline or churn of customers, with reason and drivers.",
           ("account_id",),
           _cols(f"{_ACCOUNT}, risk float, risk_decile int, reason str, drivers str")),
    Output("icp", "models", "ICP fit 0-100 and the most similar best customers.",
           ("account_id",), _cols(
               f"{_ACCOUNT}, icp_fit float, icp_percentile float, similar_best str, "
               "is_best bool")),
    # -- markets --------------------------------------------------------------------------
    Output("markets", "markets",
           "Addressable, obtainable (by ICP fit when there is one) and active market.",
           ("market",), _cols(f"market str, accounts int, {_FIGURES}")),
    # -- segments -------------------------------------------------------------------------
    Output("criteria_scores", "segments",
           "Need, value and behaviour scores and each criterion's 0-1 score.",
           ("account_id",), _cols(
               f"{_ACCOUNT}, need float, value_score float, behaviour float, flags str, "
               "n_missing int"),
           extra=("c_",), extra_doc="``c_<criterion>``: one 0-1 score per configured "
                                    "criterion"),
    Output("segments", "segments",
           "Tier, risk/readiness, care model and next best offer per account, and why.",
           ("account_id",), _cols(
               f"{_ACCOUNT}, owner_rep_id str, territory_id str, status str, value_tier str, "
               "potential_band str, matrix_cell str, road str, tier str, risk_readiness str, "
               "care_model str, coverage_role str, touches_per_year float, "
               "hours_per_touch float, next_best_offer str, nbo_score float, reasons str, "
               "name str, value_band str, value float, potential float, whitespace float, "
               "priority float, priority_rank int, need float, value_score float, "
               "behaviour float, ptb float, risk float, care_rule int")),
    # -- plan -----------------------------------------------------------------------------
    Output("rollup", "plan", "Figures rolled up at every level of plan.rollup_levels.",
           ("level", "key"), _cols(
               "level str, key str, name str, parent_key str, accounts int, customers int, "
               f"prospects int, {_FIGURES}, share_of_wallet float, "
               "expected_opportunity float, workload_hours float"),
           extra=("tier_", "road_", "value_tier_"),
           extra_doc="``tier_<t>``, ``road_<r>``, ``value_tier_<v>``: accounts per tier, "
                     "ROAD quadrant and value tier"),
    Output("capacity", "plan", "Hours required by group and care model.",
           ("level", "key", "care_model", "coverage_role"), _cols(
               "level str, key str, care_model str, coverage_role str, accounts int, "
               "touches float, hours_required float")),
    Output("headcount", "plan", "Heads needed against heads today, by group and role.",
           ("level", "key"), _cols(
               "level str, key str, accounts int, hours_required float, heads_today int, "
               "hours_available float, cost_today float, hours_per_head float, "
               "cost_per_head float, heads_needed float, heads_gap float, coverage float, "
               "cost_needed float, current float, hours_gap float, cost_gap float")),
    Output("capacity_scenarios", "plan", "The baseline and each configured capacity scenario.",
           ("scenario", "level", "key"), _cols(
               "scenario str, description str, level str, key str, heads float, "
               "heads_needed float, hours_required float, hours_available float, "
               "coverage float, cost float, revenue_target float, cost_of_sales float, "
               "revenue_per_head float, heads_gap float")),
    Output("allocation", "plan",
           "Today's heads reallocated across regions for the most expected revenue.",
           ("key",), _cols(
               "key str, heads_today float, heads int, change float, revenue_today float, "
               "revenue float, marginal_next float, marginal_last float, "
               "marginal_today float, cost_per_head float, marginal_next_per_cost float, "
               "current float, potential float, wallet float, k float, fitted_by str, "
               "method str")),
)}


def declare_output(decl: Output) -> Output:
    """Declare the output of a stage of your own (a built-in output cannot be redeclared
    by another stage: one output, one declaration)."""
    have = OUTPUTS.get(decl.name)
    if have is not None and have.stage != decl.stage:
        raise ValueError(f"output {decl.name!r} is declared by the {have.stage} stage")
    OUTPUTS[decl.name] = decl
    return decl


def output(name: str) -> Output:
    """The declaration of output ``name`` (a KeyError names the known ones)."""
    try:
        return OUTPUTS[name]
    except KeyError:
        raise KeyError(f"no output {name!r} is declared; known: {', '.join(OUTPUTS)}") from None


def _kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return str(t)


def _fits(actual: str, declared: str) -> bool:
    return actual in (declared, "null") or (declared == "float" and actual == "int")


def check_output(name: str, schema: pa.Schema) -> str | None:
    """``None`` when ``schema`` keeps output ``name``'s contract, else what is wrong."""
    if name not in OUTPUTS:
        return "it is not declared in the output contract"
    decl = OUTPUTS[name]
    have = {f.name: _kind(f.type) for f in schema}
    problems = [f"column {c.name!r} is missing" for c in decl.columns
                if c.required and c.name not in have]
    for col, kind in have.items():
        if col in decl.names:
            want = decl.column(col).kind
            if not _fits(kind, want):
                problems.append(f"column {col!r} is {kind}, declared {want}")
        elif decl.extra != "*" and not (decl.extra and col.startswith(tuple(decl.extra))):
            problems.append(f"column {col!r} is not declared")
    return "; ".join(problems) or None


def render_markdown() -> str:
    """``docs/outputs.md``: every stage output, its key and columns."""
    lines = ["<!-- generated by growthmap.contract.outputs.render_markdown; do not edit by "
             "hand -->", "", "# Stage outputs", "",
             "Every snapshot holds the outputs below, one table each, written by the stage "
             "named.  A run checks each output against this contract as the stage publishes "
             "it.  Kinds: `str`, `int`, `float`, `bool`, `date`, `timestamp`; a column "
             "marked *optional* may be absent from a run.", ""]
    for o in OUTPUTS.values():
        lines += [f"## `{o.name}` (stage `{o.stage}`)", "", o.doc, "",
                  f"One row per {' x '.join(f'`{k}`' for k in o.key)}.", "",
                  "| column | kind |", "|---|---|"]
        lines += [f"| `{c.name}` | {c.kind}{'' if c.required else ' (optional)'} |"
                  for c in o.columns]
        if o.extra:
            lines += ["", f"Further columns: {o.extra_doc}."]
        lines.append("")
    return "\n".join(lines)
