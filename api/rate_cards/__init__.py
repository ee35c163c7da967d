"""Rate cards: versioned pay rules uploaded as JSON or TOML, and the one in force."""
