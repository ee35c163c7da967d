"""A technician's earnings: pay per order, statements, the ledger, withdrawals and adjustments."""
