"""Rules where they beat a small model: danger to life (critical urgency), thanks vs sarcasm,
adverts, news reposts. Each rule names the words that fired it, for the evidence.

Rules feed the model as marker features (so training weighs them) and critical urgency also
overrides the model: a gas smell is critical however it is phrased around it.

The modules:
    words.py      what the rules look for: the lemma sets and patterns of each rule, the danger tables
    durations.py  how long a problem has lasted, in days, from what the post says (`duration_days`)
    matching.py   `apply_rules`: the rules a post fires (`RuleHits`: markers, evidence, critical and high reasons)
"""
