"""The article's techniques, one module per item; each registers itself with ``numbabench.registry``.

(The package is not called ``techniques``: importing a submodule would rebind the public
``numbabench.techniques()`` function to the package.)
"""
