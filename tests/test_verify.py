"""Parsing verifier replies (TF and QE) and building verifier prompts."""

import pytest

from svgap.loop import verification as verify
from svgap.tasks import VerifierShot

SPEC = verify.VerifierSpec("Q: {question}\nA: {response}\nTrue or False?", "Q: {question}\nA: {response}\nScore 0-10:",
                           ("True",), ("False",), 10)


@pytest.mark.parametrize("reply,score", [
    ("True", 1.0), ("true.", 1.0), (" TRUE, because 2 + 2 = 4", 1.0), ("False", 0.0), ("false!", 0.0),
    ("The answer is False. True statements...", 0.0),  # the first verdict word counts
    ("Untrue", None), ("Truely", None), ("", None), ("I cannot tell", None),
])
def test_parse_tf(reply, score):
    assert verify.parse_tf(SPEC, reply) == score


def test_parse_tf_multiword_vocabularies():
    spec = verify.VerifierSpec("{question}{response}", "{question}{response}", ("Correct", "Yes"),
                               ("Incorrect", "No"), 10)
    assert verify.parse_tf(spec, "Incorrect.") == 0.0  # not read as 'correct'
    assert verify.parse_tf(spec, "yes it is") == 1.0
    assert verify.parse_tf(spec, "No") == 0.0


@pytest.mark.parametrize("reply,score", [
    ("7", 0.7), ("Score: 10", 1.0), ("0", 0.0), ("7/10", 0.7), ("8.5 out of 10", 0.85),
    ("11", None), ("-1", None), ("ten", None), ("", None),
])
def test_parse_qe(reply, score):
    got = verify.parse_qe(SPEC, reply)
    assert got == pytest.approx(score) if score is not None else got is None


def test_a_template_with_unknown_fields_names_the_key():
    cfg = {"tf_template": "{question} {response} {score}", "qe_template": "{question}{response}",
           "correct_words": ["True"], "incorrect_words": ["False"], "qe_scale": 10}
    with pytest.raises(ValueError, match="verifier.tf_template"):
        verify.VerifierSpec.from_config(cfg)
    cfg["tf_template"] = "{question} {response} {{json}}"
    assert verify.VerifierSpec.from_config(cfg).tf_template.format(question="q", response="r") == "q r {json}"


def test_prompts_show_worked_examples_with_their_verdicts():
    shots = (VerifierShot("1+1?", "2", 1.0), VerifierShot("1+2?", "4", 0.0))
    tf = verify.tf_messages(SPEC, shots, "2+2?", "4")
    assert [m["role"] for m in tf] == ["user", "assistant", "user", "assistant", "user"]
    assert [tf[1]["content"], tf[3]["content"]] == ["True", "False"]
    assert tf[-1]["content"] == "Q: 2+2?\nA: 4\nTrue or False?"
    qe = verify.qe_messages(SPEC, shots, "2+2?", "4")
    assert [qe[1]["content"], qe[3]["content"]] == ["10", "0"]
