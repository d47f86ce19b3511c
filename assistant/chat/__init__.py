"""Chat features on top of the engine: the Tech Assistant / chat-template prompt (`prompt`), conversations with
history (`session`), explain and modify."""
