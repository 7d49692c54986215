"""The ``potential`` stage (:mod:`.stage`), its matrix, bands and markets (:mod:`.matrix`),
and its evaluation (:mod:`.evaluate`)."""
