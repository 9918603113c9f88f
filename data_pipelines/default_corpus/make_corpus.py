"""Rebuilds gutenberg_sample.txt.gz, the embedded default pretraining corpus.

Usage: python data_pipelines/default_corpus/make_corpus.py GUTENBERG_DIR

GUTENBERG_DIR holds NLTK's Project Gutenberg selection as `<name>.txt.gz`
(see PROVENANCE.md). The output has one sentence per line and a blank line
between documents, the format `data_pipelines.sources` reads; each chapter or
story is one document. The output bytes are reproducible (gzip without a
timestamp).
"""
import gzip
import os
import re
import sys

BOOKS = ('carroll-alice', 'austen-persuasion', 'chesterton-thursday',
         'chesterton-brown', 'melville-moby_dick')
OUTPUT = os.path.join(os.path.dirname(__file__), 'gutenberg_sample.txt.gz')

# A heading line starts a new document: "CHAPTER I.", "Chapter 1", "IV. The ...".
_HEADING = re.compile(r'^(CHAPTER|Chapter)\b|^[IVXLC]+\. [A-Z]')
# A sentence ends at . ! or ? (plus closing quotes/brackets) before a capital.
_SENTENCE_END = re.compile(r'(?<=[.!?])["\')\]]*\s+(?=["\'(]?[A-Z])')


def paragraphs(text: str):
  """Yields (is_heading, paragraph) with hard line wraps joined."""
  for block in re.split(r'\n\s*\n', text):
    lines = [l.strip() for l in block.strip().splitlines() if l.strip()]
    if lines:
      yield bool(_HEADING.match(lines[0])), ' '.join(' '.join(lines).split())


def documents(text: str):
  """Splits a book into chapters, each a list of sentences."""
  doc = []
  for is_heading, para in paragraphs(text):
    if para.startswith('[') and para.endswith(']'):  # NLTK's title line
      continue
    if is_heading:
      if len(doc) > 5:
        yield doc
      doc = []
      continue
    doc.extend(s.strip() for s in _SENTENCE_END.split(para) if s.strip())
  if len(doc) > 5:
    yield doc


def main(source_dir: str) -> None:
  out = []
  for book in BOOKS:
    with gzip.open(os.path.join(source_dir, book + '.txt.gz'), 'rt') as f:
      for doc in documents(f.read()):
        out.append('\n'.join(doc))
  data = ('\n\n'.join(out) + '\n').encode('utf-8')
  with open(OUTPUT, 'wb') as raw, gzip.GzipFile(
      fileobj=raw, mode='wb', mtime=0, filename='') as f:
    f.write(data)
  print(f'{OUTPUT}: {len(out)} documents, {len(data):,} bytes')


if __name__ == '__main__':
  main(sys.argv[1])
