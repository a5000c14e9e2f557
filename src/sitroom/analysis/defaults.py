"""Default parameters of the analyses, importable without numpy or scipy.

The command line shows them in its help; the estimators use them.
"""

#: Default serial interval for SARS-CoV-2 Omicron: mean 3.5 days (Backer JA et
#: al., Eurosurveillance 2022;27(6):2200042, BA.1, the Netherlands); the sd of
#: 2.4 days is our assumption (coefficient of variation 0.7). See docs/methods.md.
OMICRON_SI_MEAN = 3.5
OMICRON_SI_SD = 2.4
