"""text-generation: a causal LM's continuation of each prompt.

Inputs: {"prompt"}. Outputs: {"generated_text"}, the prompt followed by its
continuation (Hugging Face's return_full_text), made by
`trained_lm.continue_prompts` with the given `generation.Settings`
(max_new_tokens, temperature, top_k, top_p, seed, truncate; greedy by
default).

Prompts are generated in batches of prompts of one length bucket
(`lm_jax.buckets`; a last, smaller batch filled with copies of its first
prompt, dropped), so that each batch pads to one width and each (rows,
width) compiles once. A greedy continuation does not depend on its batch;
a sampled one does, through its row of the batch.
"""
from lm_jax import buckets, generation, trained_lm
from lm_jax.errors import InputError
from lm_jax.inference import base


class TextGeneration(base.Pipeline):
  task = 'text-generation'
  objectives = (trained_lm.CAUSAL_OBJECTIVE,)
  needs = 'a causal LM pretraining workdir (GPT-1, GPT-2)'
  text_key = 'prompt'

  def __init__(self, lm, *, batch_size: int = 0, **settings):
    super().__init__(lm, batch_size=batch_size)
    self.settings = generation.Settings(**settings)
    self.settings.check()
    # Settings that leave no room for any prompt fail here, not per prompt.
    self._left_pad([lm.tokenizer.pad_id])

  def _left_pad(self, ids: list[int]) -> None:
    generation.left_pad([ids], self.settings, self.lm.body.max_positions,
                        self.lm.tokenizer.pad_id)

  def parse(self, value: dict, where: str) -> tuple[str, int]:
    """(the prompt, its tokens)."""
    prompt = trained_lm.prompt_of(value, where)
    ids = self.lm.tokenizer.encode(prompt)
    try:
      self._left_pad(ids)
    except InputError as e:
      raise InputError(f'{where}: ' + str(e).replace('prompt 0', 'the prompt')
                       ) from None
    return prompt, len(ids)

  def predict(self, parsed: list) -> list[dict]:
    texts = [''] * len(parsed)
    for _, num_rows, index in buckets.batches(
        [min(length, self.lm.body.max_positions) for _, length in parsed],
        self.lm.body.max_positions, shards=self.lm.batch_shards,
        batch_size=self.batch_size):
      prompts = [parsed[i][0] for i in index]
      prompts += prompts[:1] * (num_rows - len(prompts))
      continued = trained_lm.continue_prompts(self.lm, prompts, self.settings,
                                              batch_size=num_rows)
      for i, text in zip(index, continued):
        texts[i] = parsed[i][0] + text
    return [{'generated_text': text} for text in texts]
