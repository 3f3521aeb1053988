"""Is the service alive? `/healthz`, `/metrics` and the liveness checks behind them (the
dispatcher's last tick, late deliveries, failed webhook events, chat control)."""
