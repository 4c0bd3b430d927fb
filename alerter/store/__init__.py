"""Everything kept in Redis: connections, the embedded server, the queue, send markers and
history (`state`), noise windows, silences, signature counts. Lua scripts sit beside the
module that runs them."""
