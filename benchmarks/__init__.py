"""The benchmarks behind ``geodispatch bench``: figures printed and written under ``results/``.

Not part of the installed package: ``geodispatch bench`` finds these modules in a checkout
(``make deps`` installs the project editable) and lists no benchmark where they are absent.
"""
