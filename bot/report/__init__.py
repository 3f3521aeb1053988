"""Results the shop can see: the delivery report (figures per scenario, step and variant, the
account's recovery and LINE's monthly quota), A/B decisions with winner promotion, the
holdout's incremental recovery, its console page, JSON and CSV, and `flask report`."""
