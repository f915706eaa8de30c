"""Guess: an unimprovable task by construction, a stand-in for MTG's Natural Questions (§4.3).

"Guess the hidden number between 1 and k." The gold number of each prompt is drawn from the seed and
appears nowhere in the prompt, so a response is right with probability about 1/k whatever the model
does, and no verifier (the model itself included) can tell a right guess from a wrong one: the
expected generation-verification gap of every filter is exactly 0, while the generation accuracy is
non-trivial. A measured gap away from 0 is the noise of the measurement, which is what MTG's Tables 1
and 5 ask this control to show. Option `k` (default 4).
"""

from __future__ import annotations

import random

from svgap.tasks.base import Item, Task, VerifierShot, answer_after

NAMES = ("amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heron", "iris", "juniper", "kestrel",
         "lumen", "maple", "nectar", "onyx", "pebble", "quartz", "raven", "sable", "thistle", "umber", "vesper",
         "willow", "yarrow", "zephyr")


class Guess(Task):
    solver_shots = (("The box labelled 'slate' hides a number from 1 to 4. Which number is it?",
                     "I guess 3. The answer is 3."),)
    verifier_shots = (
        VerifierShot("The box labelled 'flint' hides a number from 1 to 4. Which number is it?",
                     "I guess 2. The answer is 2.", 1.0),
        VerifierShot("The box labelled 'moss' hides a number from 1 to 4. Which number is it?",
                     "I guess 1. The answer is 1.", 0.0),
    )

    def items(self, n_train, n_test, seed):
        k = int(self.options.get("k", 4))
        labels = [f"{a}-{b}" for a in NAMES for b in NAMES if a != b]
        if n_train + n_test > len(labels):
            raise ValueError(f"guess: {n_train} + {n_test} prompts asked, only {len(labels)} labels")
        rng = random.Random(seed)
        rng.shuffle(labels)
        made = [Item(prompt_id=label, answer=str(rng.randint(1, k)), meta={"k": k},
                     question=f"The box labelled '{label}' hides a number from 1 to {k}. Which number is it?")
                for label in labels[: n_train + n_test]]
        return {"train": made[:n_train], "test": made[n_train:]}

    def reference(self, item):
        return f"I guess {item.answer}. The answer is {item.answer}."

    def extract(self, response):
        return answer_after("the answer is", r"\d+", response)
