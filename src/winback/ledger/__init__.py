"""The ledger: the data contract, the importers and the embedded store of facts."""
