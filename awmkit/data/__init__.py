"""Package data shipped with awmkit: ``references.json`` holds the optimal and random-policy returns
of every Myriad system at the standard horizons (read it with [`awmkit.evaluation.reference`][]; regenerate
it with ``awmkit references --write``)."""
