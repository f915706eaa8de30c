"""Turning a conversation into prompt token ids, with or without the model's chat template."""

from __future__ import annotations

Message = dict[str, str]


def plain_text(messages: list[Message]) -> str:
    """A chat-template-free rendering for base models: Question/Answer turns, open answer at the end."""
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(m["content"] + "\n\n")
        elif m["role"] == "user":
            parts.append(f"Question: {m['content']}\nAnswer:")
        else:
            parts.append(f" {m['content']}\n\n")
    return "".join(parts)


def render(tokenizer, messages: list[Message], chat_template: bool) -> list[int]:
    """Prompt token ids that end where the model's answer begins."""
    if chat_template and tokenizer.chat_template:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False).input_ids)
    return list(tokenizer(plain_text(messages)).input_ids)
