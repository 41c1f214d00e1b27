"""Campaigns, rendering, encoding and part counting, fan-out, messages and receipts."""
