"""Users, roles, API keys, the base layout, shared templates and static files."""
