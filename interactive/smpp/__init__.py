"""SMPP gateway, PDU codecs, reassembly and the built-in SMSC simulator."""
