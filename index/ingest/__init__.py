"""Ingestion: what users hand over (files, pages, feed entries) → documents → chunks → articles."""
