"""Short links: per-recipient tracked links, the redirect, click capture and classification."""
