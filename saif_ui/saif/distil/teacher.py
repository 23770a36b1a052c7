"""The teacher: what the model does when it is told the instruction, as targets for the unprompted model.

For each content the model is told the instruction (canonical wording, after the content: the evaluations' prompted
baseline) and answers greedily; that answer, with the end-of-turn token when it ended, is the path both models are
teacher-forced along. The teacher's next-token distribution at each answer position is kept as its top-K
log-probabilities plus the tail's total (enough for the KL, ~K/vocab of the memory); the student is the same model
given the content alone, followed by the same answer tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import Content
from saif_ui.saif.inputs.prompts import Prompt, build_prompt


@dataclass(frozen=True)
class Example:
    """One content's teacher-forced answer and the teacher's targets along it."""

    content_id: str
    student: torch.Tensor
    """[T] token ids: the unprompted prompt, then the answer."""
    teacher: torch.Tensor
    """[T'] token ids: the prompted prompt, then the same answer."""
    answer: torch.Tensor
    """[A] the answer's tokens (the end-of-turn token included when the answer ended)."""
    top_ids: torch.Tensor
    """[A, K] the teacher's most likely next tokens at each answer position."""
    top_logp: torch.Tensor
    """[A, K] their log-probabilities."""
    tail_logp: torch.Tensor
    """[A] log of the probability of every other token."""
    answer_text: str

    @property
    def student_targets(self) -> torch.Tensor:
        """[T] bool: the student's positions that predict an answer token (the last prompt token and the answer
        but its last token)."""
        mask = torch.zeros(self.student.shape[0], dtype=torch.bool)
        n = self.answer.shape[0]
        mask[-n - 1 : -1] = True
        return mask


def prompts_for(engine: Engine, instruction: Instruction, text: str) -> tuple[Prompt, Prompt]:
    """(content alone, content then instruction) as the evaluations render them."""
    plain = build_prompt(engine.chat, text, None, "none")
    told = build_prompt(engine.chat, text, instruction.canonical, "post")
    return plain, told


def teacher_examples(
    engine: Engine,
    instruction: Instruction,
    contents: Sequence[Content],
    *,
    answer_tokens: int,
    top_k: int,
    batch_size: int = 8,
) -> list[Example]:
    """The prompted answers to `contents` and the teacher's top-`top_k` targets along them."""
    if not contents:
        raise SaifError("distillation needs at least one content")
    rendered = [prompts_for(engine, instruction, c.text) for c in contents]
    pairs = [(list(plain.token_ids), list(told.token_ids)) for plain, told in rendered]
    gens = engine.generate([told.text for _, told in rendered], decoding=Decoding(max_new_tokens=answer_tokens))
    examples: list[Example] = []
    for start in range(0, len(contents), batch_size):
        chunk = range(start, min(start + batch_size, len(contents)))
        answers = []
        for i in chunk:
            g = gens[i]
            ids = list(g.token_ids) + ([g.stop_id] if g.stop_id is not None else [])
            if not ids:
                raise SaifError(f"the prompted answer to content {contents[i].id} is empty")
            answers.append(torch.tensor(ids))
        seqs = [torch.tensor(pairs[i][1] + a.tolist()) for i, a in zip(chunk, answers, strict=True)]
        logits = engine.logits(seqs)
        for row, i in enumerate(chunk):
            a = answers[row]
            told_len = len(pairs[i][1])
            at = torch.arange(told_len - 1, told_len - 1 + a.shape[0])
            logp = torch.log_softmax(logits[row, at].float(), dim=-1).cpu()
            top_logp, top_ids = logp.topk(top_k, dim=-1)
            rest = logp.scatter(-1, top_ids, float("-inf"))
            examples.append(
                Example(
                    content_id=contents[i].id,
                    student=torch.tensor(pairs[i][0] + a.tolist()),
                    teacher=seqs[row],
                    answer=a,
                    top_ids=top_ids,
                    top_logp=top_logp,
                    tail_logp=torch.logsumexp(rest, dim=-1),
                    answer_text=gens[i].text,
                )
            )
    return examples
