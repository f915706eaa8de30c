"""Logic: true/false questions over a small generated rule base ('Every cat is a mammal. ...').

Each question gives one or two rules and a fact, and asks whether a statement follows; half are
true. It is a ProntoQA-like task the workflow makes itself, answered 'The answer is True/False'.
"""

from __future__ import annotations

import random

from svgap.tasks.base import Item, Task, VerifierShot, answer_after

KINDS = [("cat", "mammal", "animal"), ("sparrow", "bird", "animal"), ("salmon", "fish", "animal"),
         ("rose", "flower", "plant"), ("oak", "tree", "plant"), ("ant", "insect", "animal"),
         ("tulip", "flower", "plant"), ("frog", "amphibian", "animal")]
NAMES = ["Alex", "Sam", "Max", "Lily", "Nora", "Omar", "Rita", "Tom", "Uma", "Vic"]


def article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


class Logic(Task):
    solver_shots = (("Every dog is a mammal. Rex is a dog. True or false: Rex is a plant.",
                     "Rex is a dog, and every dog is a mammal, not a plant. The answer is False."),)
    verifier_shots = (
        VerifierShot("Every bee is an insect. Ann is a bee. True or false: Ann is an insect.",
                     "Ann is a bee, and every bee is an insect. The answer is True.", 1.0),
        VerifierShot("Every owl is a bird. Bo is an owl. True or false: Bo is a fish.",
                     "Bo is an owl, and every owl is a bird. The answer is True.", 0.0),
    )

    def items(self, n_train, n_test, seed):
        depth = self.options.get("depth", 1)
        pool = []
        for name in NAMES:
            for kind, cls, top in KINDS:
                for truth in (True, False):
                    pool.append((name, kind, cls, top, truth))
        if n_train + n_test > len(pool):
            raise ValueError(f"logic: {n_train} + {n_test} prompts asked, only {len(pool)} distinct questions")
        rng = random.Random(seed)
        rng.shuffle(pool)
        made = []
        for name, kind, cls, top, truth in pool[: n_train + n_test]:
            target = top if depth > 1 else cls
            if not truth:
                others = sorted({k[2 if depth > 1 else 1] for k in KINDS} - {target})
                target = rng.choice(others) if depth == 1 else ("plant" if top == "animal" else "animal")
            rules = f"Every {kind} is {article(cls)}. "
            if depth > 1:
                rules += f"Every {cls} is {article(top)}. "
            question = f"{rules}{name} is {article(kind)}. True or false: {name} is {article(target)}."
            made.append(Item(prompt_id=f"{name}-{kind}-{target}", question=question, answer=str(truth),
                             meta={"depth": depth}))
        return {"train": made[:n_train], "test": made[n_train:]}

    def reference(self, item):
        """The premises, the conclusion they give, and the answer."""
        premises, claim = item.question.split(" True or false: ")
        verdict = "true" if item.answer == "True" else "false"
        return f"{premises} So the claim that {claim.rstrip('.')} is {verdict}. The answer is {item.answer}."

    def extract(self, response):
        found = answer_after("the answer is", "true|false", response)
        return found.capitalize() if found else None
