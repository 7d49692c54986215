"""Contracts: the columns of every input table (:mod:`.inputs`), declared once."""
