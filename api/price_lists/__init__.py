"""Customer price lists: versioned prices for the customer's bill, uploaded as TOML or JSON."""
