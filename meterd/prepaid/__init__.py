"""Prepaid water meters: top-up tokens, the vending interface, reconciliation with what meters report."""
