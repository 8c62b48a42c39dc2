"""Citizens' reactions to published replies (issue 14): every comment or message written in the
complaint's thread after an official's reply went out there, within `reaction_watch_hours`, becomes one
ReactionCollected (outbox, `incidents.v1.reaction.collected.<region>`).

VK is read: `Watcher` calls wall.getComments on the complaint's post every `reaction_poll_seconds`, for
each VK publication still watched, with the source's token and its rate limiter. Telegram is not: the
messages come in anyway (webhook or getUpdates), and `telegram_reactions` runs inside the ingest
transaction for those that answer the bot's reply or the complaint message.

Once each: the `reactions` table keys what was published (reaction_id "<source_type>:<external_id>"),
written with its events in one transaction. The decisions are pure functions (`decisions`); `service` stores
them and hooks into ingest; `Watcher` (`watcher`) reads VK.
"""
