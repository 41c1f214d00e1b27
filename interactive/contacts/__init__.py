"""Contacts: the address book and its import from CSV and spreadsheet files."""
