"""The gateway's admin plane: the API, who may use it, and its own listener."""
