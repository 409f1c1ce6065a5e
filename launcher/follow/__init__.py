"""Follow-through: what happens to sessions after they are created (watch, capacity, results)."""
