"""Mind the Gap (Song et al., ICLR 2025): the generation-verification gap of a model, measured offline.

One sampling per model and task (`svgap.loop.sampling.generate` with MTG's settings), one
verification per response and method (`verify`: MC, CoT-Binary, CoT-Score, Tournament, and repeated
CoT-Binary verifications), then every filter, threshold and ensemble from those tables without
sampling again (`filters`, `measures`), and the paper's tables and figures (`report`).

- `parse`: the rules that read a verdict, a score or a preference out of a reply.
- `tournament`: the single-elimination bracket (MTG App. C).
- `verify`: the model job: prompts, batched calls, parsed scores.
- `filters`: per-prompt quantile ("top n"), global threshold ("tau = n") and their AND (ensembles).
- `measures`: gap (Def. 2.1), relative gap (Def. 2.2), the threshold sweep, tournament rounds,
  verifier variance, correlations.
- `report`: the tables across models (MTG Tables 1-7) and the figures (MTG Figs. 5-7, 11, 14-19).
"""
