"""Customer bills: a done ticket priced line by line under the customer price list in force."""
