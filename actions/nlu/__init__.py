"""The brain's classifier: one linear model over word and character n-grams (`ngram_model`), its
Rasa component (`ngram_classifier`, named in config.yml) and its cross-validation on the editors'
examples (`ngram_overlap`, `bot overlap`)."""
