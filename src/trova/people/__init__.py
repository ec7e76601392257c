"""People and their numbers as values: searches, answers, observations, the normalisers that turn
what a user typed into comparable keys, and the ranking that picks one number.

Pure: nothing here does I/O or imports another Trova domain, so every layer above (the contact
store, privacy screening, the finder, the sources, the bulk tool) shares one definition of each rule.
"""
