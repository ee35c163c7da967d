"""Rule kinds of a rate card; each parses its table into :class:`~settlement.slots.Slot` s."""
