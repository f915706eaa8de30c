"""Analysis of self-improvement trajectories: SVG §3.2, §5.1, App. B and E.

theory    closed forms of the model (Prop. 3.1, Cor. 3.1, 3.2), sign slips fixed, identifiability
simulate  ground truth: the ODE of Eqs. 7-9 and the cross-improvement iteration of Eqs. 13-16
fit       exponential (and power-law) fits of one series, the joint fit of U_s and U_v
rates     dG/dt against G (Fig. 2/8), the partial F-test (Table 4), Pearson r (Table 2)
forecast  early prediction of the limit (Cor. 3.2) and the honest model comparison
cross     Prop. 5.1: external data given Early / Uniform / Late
analyse   the per-run tables the rules write; report: paper-style Markdown / LaTeX tables; plots
"""
