"""The sync core: pure functions of (sheet rows, amoCRM leads, last-synced state) → a plan. No I/O."""
