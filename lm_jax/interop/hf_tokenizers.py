"""Tokenizer files of a Hugging Face model folder, read as an lm_jax
vocabulary and written from one.

lm_jax's tokenizers read HF's files as they are: BERT's `vocab.txt`
(WordPiece after BERT's BasicTokenizer), a SentencePiece `.model`
(ALBERT's `spiece.model`), GPT-2's `vocab.json` + `merges.txt` or a byte-level
BPE `tokenizer.json`. A `tokenizer.json` holding a WordPiece model is read as
the `vocab.txt` it contains. Writing gives the files and a
`tokenizer_config.json` that `AutoTokenizer.from_pretrained` reads.
"""
import dataclasses
import json
import os

from data_pipelines import tokenizers
from lm_jax.errors import InputError

TOKENIZER_CONFIG = 'tokenizer_config.json'
TOKENIZER_JSON = 'tokenizer.json'
_WORDPIECE_CLASS = {'bert': 'BertTokenizer', 'electra': 'ElectraTokenizer',
                    'distilbert': 'DistilBertTokenizer',
                    'albert': 'BertTokenizer'}


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """One vocabulary file as lm_jax keeps it: `data.tokenizer`, whether it
  lower-cases (`data.lowercase` for WordPiece, `data.spm_lowercase` for
  SentencePiece), the file's name and bytes."""
  kind: str  # 'wordpiece' | 'sentencepiece' | 'bpe'
  filename: str
  content: bytes
  lowercase: bool


def _json(path: str):
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f'cannot read {path}: {e}') from None


def _read(path: str) -> bytes:
  with open(path, 'rb') as f:
    return f.read()


def read_vocabulary(folder: str, family: str) -> Vocabulary:
  """The vocabulary of an HF folder of `family`, or InputError naming the
  files it looked for."""
  path = lambda name: os.path.join(folder, name)
  exists = lambda name: os.path.isfile(path(name))
  settings = _json(path(TOKENIZER_CONFIG)) if exists(TOKENIZER_CONFIG) else {}
  if family == 'gpt2':
    for name in (TOKENIZER_JSON, 'vocab.json'):
      if exists(name):
        bpe = tokenizers.ByteLevelBPETokenizer(path(name))
        return Vocabulary('bpe', TOKENIZER_JSON,
                          bpe.tokenizer_json.encode('utf-8'), False)
    raise InputError(f'{folder} has no {TOKENIZER_JSON} or vocab.json + '
                     'merges.txt (GPT-2\'s byte-level BPE)')
  if family == 'albert' and exists('spiece.model'):
    # ALBERT's released tokenizers; lm_jax's SentencePiece prepares text
    # the same way with data.spm_lowercase (accents and quotes included).
    if (not settings.get('do_lower_case', True)
        or settings.get('keep_accents', False)):
      raise InputError(
          f'{folder}: only ALBERT\'s uncased SentencePiece tokenizer '
          '(do_lower_case=true, keep_accents=false) is supported')
    return Vocabulary('sentencepiece', 'spiece.model',
                      _read(path('spiece.model')), True)
  lowercase = settings.get('do_lower_case', True)
  if settings.get('strip_accents') not in (None, lowercase):
    raise InputError(f'{folder}: strip_accents={settings["strip_accents"]} '
                     f'with do_lower_case={lowercase} is not supported (BERT '
                     'strips accents exactly when it lowercases)')
  if settings.get('tokenize_chinese_chars', True) is False:
    raise InputError(f'{folder}: tokenize_chinese_chars=false is not '
                     'supported')
  if exists('vocab.txt'):
    return Vocabulary('wordpiece', 'vocab.txt', _read(path('vocab.txt')),
                      lowercase)
  if exists(TOKENIZER_JSON):
    return _wordpiece_from_json(path(TOKENIZER_JSON), lowercase)
  raise InputError(f'{folder} has no vocab.txt or {TOKENIZER_JSON}'
                   + (' or spiece.model' if family == 'albert' else ''))


def _wordpiece_from_json(path: str, lowercase: bool) -> Vocabulary:
  content = _json(path)
  model = content.get('model') if isinstance(content, dict) else None
  if not isinstance(model, dict) or model.get('type') != 'WordPiece':
    raise InputError(f'{path} holds no WordPiece model')
  vocab = model.get('vocab') or {}
  by_id = sorted(vocab, key=vocab.get)
  if [vocab[t] for t in by_id] != list(range(len(by_id))):
    raise InputError(f'{path} does not number its tokens 0 to '
                     f'{len(by_id) - 1}')
  normalizer = content.get('normalizer') or {}
  if normalizer.get('type') == 'BertNormalizer':
    lowercase = normalizer.get('lowercase', lowercase)
  return Vocabulary('wordpiece', 'vocab.txt',
                    ''.join(t + '\n' for t in by_id).encode('utf-8'),
                    lowercase)


def write_vocabulary(folder: str, kind: str, vocab_path: str, lowercase: bool,
                     family: str, max_length: int) -> None:
  """The tokenizer files of an lm_jax vocabulary, for `AutoTokenizer`."""
  tokenizer = tokenizers.load_tokenizer(kind, vocab_path, lowercase)
  name = tokenizer.id_to_token
  settings = {'model_max_length': max_length}
  if kind == 'bpe':
    text = tokenizer.tokenizer_json
    with open(os.path.join(folder, TOKENIZER_JSON), 'w', encoding='utf-8') as f:
      f.write(text)
    model = json.loads(text)['model']
    with open(os.path.join(folder, 'vocab.json'), 'w', encoding='utf-8') as f:
      json.dump(model['vocab'], f, ensure_ascii=False)
    with open(os.path.join(folder, 'merges.txt'), 'w', encoding='utf-8') as f:
      f.write('#version: 0.2\n')
      for merge in model['merges']:
        f.write((merge if isinstance(merge, str) else ' '.join(merge)) + '\n')
    eot = name(tokenizer.eot_id)
    settings.update(tokenizer_class='GPT2Tokenizer', bos_token=eot,
                    eos_token=eot, unk_token=eot, add_prefix_space=False)
  else:
    specials = dict(unk_token=name(tokenizer.unk_id),
                    sep_token=name(tokenizer.sep_id),
                    pad_token=name(tokenizer.pad_id),
                    cls_token=name(tokenizer.cls_id),
                    mask_token=name(tokenizer.mask_id))
    if kind == 'wordpiece':
      target = 'vocab.txt'
      settings.update(tokenizer_class=_WORDPIECE_CLASS[family],
                      do_lower_case=lowercase, strip_accents=None,
                      tokenize_chinese_chars=True, **specials)
    else:
      target = 'spiece.model'
      settings.update(tokenizer_class='AlbertTokenizer',
                      do_lower_case=lowercase, keep_accents=not lowercase,
                      remove_space=True, **specials)
    with open(vocab_path, 'rb') as src, open(os.path.join(folder, target),
                                              'wb') as dst:
      dst.write(src.read())
  with open(os.path.join(folder, TOKENIZER_CONFIG), 'w', encoding='utf-8') as f:
    json.dump(settings, f, indent=2, ensure_ascii=False)
