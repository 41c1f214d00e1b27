"""Inbound messages: storage, keyword rules, the router, built-in handlers and the inbox."""
