"""Normalising company names, domains, countries and register numbers for matching.

Two lists spell the same company differently: ``"Müller GmbH & Co. KG"`` and
``"MULLER"``, ``"https://www.acme.com/about"`` and ``"acme.com"``, ``"USA"`` and
``"United States"``.  Matching compares the normalised forms, so the rules live here,
once, and the match table shows both the raw and the normalised values.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

__all__ = [
    "LEGAL_SUFFIXES",
    "normalize_city",
    "normalize_country",
    "normalize_domain",
    "normalize_frame",
    "normalize_name",
    "normalize_regno",
]

#: Legal-form words dropped from names (lower case, without dots).
LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "corp", "corporation", "co", "company", "cos", "llc", "llp", "lp",
    "ltd", "limited", "plc", "pty", "pte", "pvt", "gmbh", "ag", "kg", "ohg", "ug", "ek", "mbh",
    "kgaa", "se", "sa", "sas", "sarl", "sarlu", "srl", "spa", "snc", "sl", "slu", "bv", "nv",
    "vof", "cv", "ab", "oy", "oyj", "asa", "aps", "kk", "sdn", "bhd", "the", "et", "cie",
    "und", "and",
})

# Multi-word forms handled before tokenising ("& co", "s.a. de c.v.").
_PHRASES = [
    (re.compile(r"\bs\.?\s?a\.?\s+de\s+c\.?\s?v\.?"), " "),
    (re.compile(r"\bgmbh\s*&\s*co\.?\s*kg\b"), " "),
    (re.compile(r"&"), " and "),
    (re.compile(r"\+"), " and "),
]
_COUNTRIES = {
    "us": "US", "usa": "US", "united states": "US", "united states of america": "US",
    "america": "US", "u s": "US", "u s a": "US",
    "uk": "GB", "gb": "GB", "united kingdom": "GB", "great britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB", "britain": "GB",
    "de": "DE", "germany": "DE", "deutschland": "DE",
    "fr": "FR", "france": "FR", "ca": "CA", "canada": "CA", "au": "AU", "australia": "AU",
    "mx": "MX", "mexico": "MX", "br": "BR", "brazil": "BR", "brasil": "BR",
    "es": "ES", "spain": "ES", "espana": "ES", "it": "IT", "italy": "IT", "italia": "IT",
    "nl": "NL", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
    "be": "BE", "belgium": "BE", "ch": "CH", "switzerland": "CH", "schweiz": "CH",
    "at": "AT", "austria": "AT", "osterreich": "AT", "ie": "IE", "ireland": "IE",
    "se": "SE", "sweden": "SE", "no": "NO", "norway": "NO", "dk": "DK", "denmark": "DK",
    "fi": "FI", "finland": "FI", "pt": "PT", "portugal": "PT", "pl": "PL", "poland": "PL",
    "ar": "AR", "argentina": "AR", "ve": "VE", "venezuela": "VE", "jp": "JP", "japan": "JP",
    "cn": "CN", "china": "CN", "in": "IN", "india": "IN", "sg": "SG", "singapore": "SG",
    "nz": "NZ", "new zealand": "NZ", "za": "ZA", "south africa": "ZA",
}


def _ascii(text: str) -> str:
    """Lower case without accents: ``"Müller"`` -> ``"muller"``."""
    text = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or \
        str(value).strip() in ("", "nan", "None", "NaN", "<NA>")


def normalize_name(name: object) -> str | None:
    """The comparable core of a company name: no accents, punctuation or legal form.

    ``"The Müller-Lüdenscheid GmbH & Co. KG"`` -> ``"muller ludenscheid"``.  When only
    legal words remain (a company called ``"Holding AG"``), they are kept.
    """
    if _blank(name):
        return None
    text = _ascii(str(name))
    for pattern, repl in _PHRASES:
        text = pattern.sub(repl, text)
    text = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", text)  # "s.a." -> "sa"
    tokens = re.sub(r"[^0-9a-z]+", " ", text).split()
    core = [t for t in tokens if t not in LEGAL_SUFFIXES]
    out = " ".join(core or tokens)
    return out or None


def normalize_domain(value: object) -> str | None:
    """``"https://www.Acme.com/about"`` or ``"info@acme.com"`` -> ``"acme.com"``."""
    if _blank(value):
        return None
    text = str(value).strip().lower()
    text = text.split("@", 1)[-1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = re.split(r"[/?#:]", text, maxsplit=1)[0]
    text = text.removeprefix("www.").strip(".")
    return text if "." in text else None


def normalize_country(value: object) -> str | None:
    """An ISO 3166 alpha-2 code when the name or code is known, else the cleaned text."""
    if _blank(value):
        return None
    key = re.sub(r"[^a-z]+", " ", _ascii(str(value))).strip()
    return _COUNTRIES.get(key, key.upper() if len(key) == 2 else key) or None


def normalize_city(value: object) -> str | None:
    """``"México D.F."`` -> ``"mexico df"``; ``"St. Louis"`` -> ``"saint louis"``."""
    if _blank(value):
        return None
    text = _ascii(str(value))
    text = re.sub(r"\bst\.?\s", "saint ", text)
    text = re.sub(r"[^0-9a-z]+", " ", text.replace(".", "")).strip()
    return text or None


def normalize_regno(value: object) -> str | None:
    """Register / VAT numbers compared on their letters and digits only, upper case."""
    if _blank(value):
        return None
    text = re.sub(r"[^0-9A-Za-z]+", "", str(value)).upper()
    return text or None


def normalize_frame(df: pd.DataFrame, id_col: str = "account_id") -> pd.DataFrame:
    """The matching columns of a company list (missing columns become empty).

    Returns ``unique_id, name_raw, name_norm, name_sorted, country, city, domain, regno``.
    """

    def col(name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)

    names = col("name").map(normalize_name)
    out = pd.DataFrame({
        "unique_id": col(id_col).astype(str).to_numpy(),
        "name_raw": col("name").to_numpy(),
        "name_norm": names.to_numpy(),
        "name_sorted": names.map(lambda n: " ".join(sorted(n.split())) if n else None)
        .to_numpy(),
        "country": col("country").map(normalize_country).to_numpy(),
        "city": col("city").map(normalize_city).to_numpy(),
        "domain": col("domain").map(normalize_domain).to_numpy(),
        "regno": col("registration_number").map(normalize_regno).to_numpy(),
    })
    return out.astype(object).where(out.notna(), None)
