"""What Node2Vec learns from and how answers are explained: the relation graph
(imports, folders, co-change, test pairs), the walk settings for it, and the reranked,
self-explaining related-file answers."""
