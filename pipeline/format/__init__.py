"""Format: blocks that rewrite kept documents' text without dropping any (PII)."""
