"""Personal data in datasets: discovery of PII columns, keyed pseudonymisation and generalisation.

The re-exports are filled in as the modules land (``_detect``, ``_pseudonymise``).
"""

__all__: list[str] = []
