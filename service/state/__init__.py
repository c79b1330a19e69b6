"""Per-user state in Redis: the store, its records and key layout, the atomic update script, the connection.
Imports core only."""
