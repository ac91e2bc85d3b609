"""Write: the output schema (provenance + block columns) and sharded parquet that appears only complete."""
