"""Search: embeddings, the derived vector indexes, retrieval, the time a question names, answers."""
