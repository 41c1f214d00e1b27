"""interactive: a self-hosted two-way SMS platform."""
