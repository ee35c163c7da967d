"""The inquiry model with no HTTP, SQL or files: text features, training, drafts, figures.

Modules: ``text`` (normalising, masking, words, language), ``model`` (training, drafts and
their deciding words), ``evaluation`` (held-out figures) and ``corpus`` (corpus lines).
Nothing is re-exported here: ``model`` imports scikit-learn and SciPy (about a second), and
the service imports this package when it starts but needs the model only on the first
inquiry, so each caller imports the module it uses when it uses it.
"""
