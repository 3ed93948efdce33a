"""newsbot's retrieval core: ingestion, storage and cited answers, with no Discord in it."""
