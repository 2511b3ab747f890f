"""Insurance: catalogue, SKU mapping, rules, national-platform gateway and simulator, settlements, claims."""
