"""Customer support: tickets that hand a chat from the bot to a person and back, the operator
queue, business hours, the satisfaction survey, and the idle-ticket sweep."""
