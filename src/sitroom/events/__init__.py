"""Dated events of an org unit: interventions, changes of case definition, reporting."""
