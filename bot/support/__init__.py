"""Customer support: tickets that hand a chat from the bot to a person and back.

escalation (the bot side), queue (what the console lists), actions (claim, transfer, reply,
resolve, hand back), notes (internal notes, canned replies), satisfaction (the survey), hours
(staffed hours and their override), idle and jobs (the idle timeout), handlers (the survey's
postback), errors."""
