"""Secrets: decryption, scanning and masking helpers used below render."""
