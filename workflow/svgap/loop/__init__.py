"""One round of SVG Algorithm 1, step by step, on tables of one split.

sampling      N responses per prompt from the current model, with their NLL (the generations table)
verification  the same model scores each response: TF, QE, P(correct), those verifier.methods asks (the verify table)
grading       each response judged against the gold answer (the grades table)
bon           the Best-of-N pick of Eq. 4 (the picks table)
metrics       U_s, U_v, G and accuracies of one split and checkpoint (Eqs. 5-6)
finetune      LoRA SFT on the picks: the model of the next epoch
trajectory    every checkpoint's metrics of a run, and its figure
"""
