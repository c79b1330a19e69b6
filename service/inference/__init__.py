"""Texts -> embeddings -> scores and online updates; no HTTP. The routes call ``engine.RewardEngine``.
Imports state and core."""
