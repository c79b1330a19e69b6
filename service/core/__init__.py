"""What every layer shares: settings, domain errors (-> problem+json), logs, metrics, ids. Imports no other layer."""
