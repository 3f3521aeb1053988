"""What every part of the service stands on: settings, database, clock, logs, metrics, Redis
queues, domain signals, the job context, the periodic scheduler and the release phase.

Nothing here knows about LINE or about a feature."""
