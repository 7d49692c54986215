"""The ``segments`` stage (:mod:`.stage`), its criteria and its plain-word reasons."""
