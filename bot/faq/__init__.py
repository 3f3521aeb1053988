"""FAQ auto-reply: the shop's FAQ file, the Japanese matcher, the conversation (answer,
suggest, admit a miss, hand over to a person), its handlers and the `flask faq` commands."""
