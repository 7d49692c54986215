"""The ``value`` stage: current value per account and family, tiers, concentration."""
