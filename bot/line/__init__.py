"""LINE's side of the service: the Messaging API gateway, the webhook intake (verify,
de-duplicate, store, enqueue), routing a stored event to its handler, the messenger that
replies or pushes and logs every message, and the groups, rooms and chat-control rules.

Features register their handler functions here through `handlers/` (see `bot.app`); this
package never imports a feature."""
