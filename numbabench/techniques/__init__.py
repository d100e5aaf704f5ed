"""One module per technique of the article; each registers itself with ``numbabench.registry``."""
