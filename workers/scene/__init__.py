"""The scene stage (DESIGN §7): the one owner of each session's order-dependent state."""
