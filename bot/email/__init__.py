"""E-mail: composing messages with their headers, SMTP hand-off, one-click unsubscribe and
the bounce/complaint intake."""
