"""Contracts: the columns of every input table (:mod:`.inputs`) and of every stage output
(:mod:`.outputs`), each declared once."""
