"""Point of sale: registers, shifts, carts, the append-only sales journal, receipts, day close."""
