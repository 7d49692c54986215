"""The ``models`` stage (:mod:`.stage`): as-of features, buying-centre coverage, batch
scoring of every account and the read-back of its evaluation."""
