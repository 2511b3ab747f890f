"""GSP: supplier and drug qualification, purchasing, receiving and acceptance, curing, quality locks, recall."""
