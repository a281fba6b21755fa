"""The scan: features, lapse policy, worth and keeper decision, the ranked win-back list."""
