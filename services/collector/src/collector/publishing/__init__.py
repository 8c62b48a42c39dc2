"""Publishes officials' replies where the complaints were: a comment under the VK post, a Telegram reply
to the message (issue 14). Routing asks with ReplyRequested; collector.consumers stores a pending
publication; this loop publishes the due ones and records each outcome with its ReplyPublication
event in one transaction (the outbox).

Never twice. Before a call the row is marked `sending` (attempts + 1) and committed; after it the
outcome is recorded. A row found in `sending` when the loop starts, or at a later pass once older than
the longest a call can take, is a crash between a call and its record: VK is called again with the same
`guid` (VK's documented guard: the comment already made is returned, no second one), a Telegram message
(the Bot API has no idempotency key) becomes `unconfirmed` and is never sent again. For the same reason
a Telegram call that may have reached Telegram and got no answer (a read timeout) is `unconfirmed`, not
retried; VK's are retried.

The decisions (where a reply goes, what an answer means) are pure functions (`decisions`); `Publisher`
(`publisher`) does the I/O.
"""
