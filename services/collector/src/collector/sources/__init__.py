"""Sources (VK, Telegram, RSS): settings, secrets at rest, CRUD, the polling schedule and cursors."""
